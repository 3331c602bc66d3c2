// POST /api/login, POST /api/logout, GET /api/session (API.md, "Sessions and
// CSRF").
#include <openssl/crypto.h>

#include <fmt/format.h>

#include "backend/node/login_check.hpp"
#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"
#include "core/log.hpp"

namespace postern::node::webmail {

namespace {

// As POP3 and IMAP: a failed login is answered after this long, which slows
// password guessing down while holding nothing but a timer.
constexpr std::chrono::milliseconds kFailedLoginDelay{1000};
constexpr std::size_t kMaxUserName = 255;
constexpr std::size_t kMaxPassword = 1024;

bool is_json(const Request& request) {
  const std::string* type = request.head.headers.get("Content-Type");
  if (type == nullptr) return false;
  std::string_view t = *type;
  t = t.substr(0, t.find(';'));
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  std::string lower(t);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return lower == "application/json";
}

// The Origin header, when a browser sends one, must name this host: a page
// elsewhere cannot log a browser in (login CSRF).
bool same_origin(const Request& request) {
  const std::string* origin = request.head.headers.get("Origin");
  if (origin == nullptr) return true;
  const std::string* host = request.head.headers.get("Host");
  if (host == nullptr) return false;
  std::string_view o = *origin;
  const auto scheme = o.find("://");
  if (scheme == std::string_view::npos) return false;
  o.remove_prefix(scheme + 3);
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  };
  return lower(o) == lower(*host);
}

std::string display_name(const mapping::Account& account) {
  for (const char* attribute : {"displayName", "cn"}) {
    auto it = account.attributes.find(attribute);
    if (it != account.attributes.end() && !it->second.empty()) return it->second.front();
  }
  return {};
}

void on_login(CallPtr call, const std::string& user, LoginResult result) {
  const bool ok = result.outcome == LoginOutcome::Ok;
  std::optional<WebSession> session;
  if (ok) session = call->ctx.sessions.create(result.account.address, display_name(result.account));
  const std::string_view outcome = ok && !session ? "full" : login_outcome_name(result.outcome);
  call->ctx.metrics.login(outcome);
  auto connection = call->connection();
  core::log_info("webmail_login")
      .kv("sid", connection ? connection->sid() : std::string())
      .kv("client", call->request.client)
      .kv("user", user)
      .kv("account", result.account.address)
      .kv("ok", ok && session ? 1 : 0)
      .kv("outcome", outcome)
      .kv("detail", result.detail);
  auto failed = [&](int status, std::string_view code, std::string_view message) {
    if (connection) connection->count_failed_login();
    call->reply_later(error_response(status, code, message), kFailedLoginDelay);
  };
  switch (result.outcome) {
    case LoginOutcome::Ok: {
      if (!session) return call->error(503, "Could not start a session; try again later");
      call->session = *session;
      Response r = json_response(200, {{"user", session->user}, {"csrf", session->csrf}});
      r.headers.add("Set-Cookie", session_cookie(session->token, call->request.secure));
      return call->reply(std::move(r));
    }
    case LoginOutcome::Denied:
      return failed(401, "auth", "Wrong user name or password");
    case LoginOutcome::ServiceDisabled:
      return failed(403, "forbidden", "WebMail is not enabled for this account");
    case LoginOutcome::WrongNode:
      return call->error(421, "wrong_node", "This account is served by another node");
    case LoginOutcome::TempFail:
      return call->error(503, "The directory is not answering; try again in a moment");
  }
}

}  // namespace

void api_login(CallPtr call) {
  Request& request = call->request;
  if (!is_json(request)) return call->error(415, "Send the login as application/json");
  if (!same_origin(request)) return call->error(403, "csrf", "Cross-site login refused");
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("user") ||
      !body.contains("password") || !body["user"].is_string() || !body["password"].is_string()) {
    return call->error(400, "Expected {\"user\": \"...\", \"password\": \"...\"}");
  }
  std::string user = body["user"].get<std::string>();
  core::Secret password(body["password"].get<std::string>());
  // The copies the parse left behind: wiped, as Secret wipes its own.
  auto& in_json = body["password"].get_ref<std::string&>();
  OPENSSL_cleanse(in_json.data(), in_json.size());
  OPENSSL_cleanse(request.body.data(), request.body.size());
  if (user.empty() || user.size() > kMaxUserName || password.reveal().size() > kMaxPassword ||
      user.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
    return call->error(400, "Malformed user name or password");
  }
  auto connection = call->connection();
  if (!connection) return;
  if (!connection->plaintext_login_allowed(request)) {
    return call->error(403, "tls_required",
                       "Log in over https: a password may not cross a plain connection");
  }
  check_login(call->ctx.node, "webmail", user, std::move(password), call->loop(),
              [call, user](LoginResult r) {
                if (!call->alive()) return;
                on_login(call, user, std::move(r));
              });
}

void api_logout(CallPtr call) {
  call->ctx.sessions.remove(call->session.token);
  core::log_info("webmail_logout").kv("user", call->user()).kv("client", call->request.client);
  Response r;
  r.status = 204;
  r.headers.add("Set-Cookie", clear_session_cookie(call->request.secure));
  call->reply(std::move(r));
}

void api_session(CallPtr call) {
  call->json(200, {{"user", call->user()}, {"csrf", call->session.csrf}});
}

}  // namespace postern::node::webmail
