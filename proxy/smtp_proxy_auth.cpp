// AUTH PLAIN and LOGIN (RFC 4954) on submission listeners: the credentials
// are checked at the edge (check_login), and the account's node is told who
// the user is with XCLIENT LOGIN, so the password never travels further.
#include <fmt/format.h>

#include "core/base64.hpp"
#include "core/log.hpp"
#include "core/sasl_plain.hpp"
#include "proxy/smtp_proxy.hpp"

namespace postern::proxy {

namespace {

std::string upper(std::string s) {
  for (auto& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

}  // namespace

bool SmtpProxySession::auth_offered() const {
  return submission_ && plaintext_allowed();
}

void SmtpProxySession::auth(const core::smtp::Command& c) {
  if (!submission_) return error({503, "5.5.1", "Error: authentication not enabled"});
  if (helo_.empty()) return error({503, "5.5.1", "Error: send EHLO first"});
  if (!mail_line_.empty()) return error({503, "5.5.1", "Error: MAIL transaction in progress"});
  if (!plaintext_allowed())
    return reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
  const std::string& arg = c.argument;
  const std::size_t space = arg.find(' ');
  const std::string mechanism = upper(arg.substr(0, space));
  const std::string initial = space == std::string::npos ? "" : arg.substr(space + 1);
  if (mechanism == "PLAIN") {
    auth_step_ = AuthStep::PlainResponse;
    if (initial.empty()) return send("334 \r\n");
    return auth_line(initial);
  }
  if (mechanism == "LOGIN") {
    auth_step_ = AuthStep::LoginUser;
    if (initial.empty()) return send("334 VXNlcm5hbWU6\r\n");  // "Username:"
    return auth_line(initial);
  }
  error({504, "5.5.4", "Unsupported authentication mechanism"});
}

void SmtpProxySession::auth_line(const std::string& line) {
  const AuthStep step = auth_step_;
  auth_step_ = AuthStep::None;
  if (line == "*") return error({501, "5.7.0", "Authentication cancelled"});
  if (step == AuthStep::PlainResponse) {
    auto credentials = core::decode_plain(line);
    if (!credentials) {
      if (credentials.error() == core::PlainError::BadBase64)
        return error({501, "5.5.2", "Cannot decode response"});
      // No password to check (malformed, or acting for someone else): a
      // refusal, counted as an error since the directory was not asked.
      reply(535, "5.7.8", "Authentication credentials invalid");
      if (bad_command())
        close_with("4.7.0", "Too many failed authentications, closing connection",
                   "too_many_errors");
      return;
    }
    return login(std::move(credentials->user), std::move(credentials->password));
  }
  auto decoded = core::base64_decode(line);
  if (!decoded) return error({501, "5.5.2", "Cannot decode response"});
  if (step == AuthStep::LoginUser) {
    auth_user_ = std::move(*decoded);
    auth_step_ = AuthStep::LoginPassword;
    return send("334 UGFzc3dvcmQ6\r\n");  // "Password:"
  }
  std::string user = std::move(auth_user_);
  login(std::move(user), core::Secret(std::move(*decoded)));
}

void SmtpProxySession::login(std::string user, core::Secret password) {
  auth_user_ = user;
  // Without verify_credentials the proxy only looked the user up: the node
  // must check the password, so it is replayed there.
  password_ = config().verify_credentials ? core::Secret() : password.clone();
  check_login(std::move(user), std::move(password), "submission",
              [this](const Decision& d) { on_login(d); });
}

void SmtpProxySession::on_login(const Decision& d) {
  switch (d.verdict) {
    case Verdict::Ok:
      return connect_node(d.account.node);
    case Verdict::Denied:
      return failed_login();
    case Verdict::TempFail:
      password_ = core::Secret();
      return reply(454, "4.7.0", "Temporary authentication failure");
    case Verdict::Unavailable:
      password_ = core::Secret();
      return reply(451, "4.4.1", "Mail server temporarily unavailable, try again later");
  }
}

// The base already waited the failed-login delay before asking.
void SmtpProxySession::failed_login() {
  password_ = core::Secret();
  auth_user_.clear();
  reply(535, "5.7.8", "Authentication credentials invalid");
  if (too_many_failures())
    close_with("4.7.0", "Too many failed authentications, closing connection",
               "too_many_failed_logins");
}

}  // namespace postern::proxy
