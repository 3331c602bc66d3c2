// STARTTLS (RFC 3207), AUTH PLAIN and LOGIN (RFC 4954) on submission
// listeners, and XCLIENT (Postfix) from trusted proxies.
#include <fmt/format.h>

#include <algorithm>

#include "backend/mime/encoded_words.hpp"
#include "backend/mime/text.hpp"
#include "backend/smtp/smtp_session.hpp"
#include "core/log.hpp"
#include "core/sasl_plain.hpp"

namespace postern::node::smtp {

namespace {
using core::smtp::Command;
using core::smtp::XclientAttribute;

constexpr std::chrono::milliseconds kFailedLoginDelay{1000};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}
}  // namespace

void SmtpSession::starttls() {
  if (conn_->tls_active()) {
    reply_error({503, "5.5.1", "Error: TLS already active"});
    return;
  }
  if (!listener_.starttls_available()) {
    reply(454, "4.7.0", "TLS not available");
    return;
  }
  reply(220, "2.0.0", "Ready to start TLS");
  // RFC 3207 4.2: forget everything learnt before the handshake.
  reset_transaction();
  helo_.clear();
  esmtp_ = false;
  if (!conn_->start_tls(listener_.tls)) {
    close_reason_ = "tls_failed";
    conn_->close();
  }
}

bool SmtpSession::auth_offered() const {
  return submission_ && auth_user_.empty() && plaintext_login_allowed(*conn_, listener_);
}

void SmtpSession::auth(const Command& c) {
  if (!submission_) {
    reply_error({503, "5.5.1", "Error: authentication not enabled"});
    return;
  }
  if (helo_.empty()) {
    reply_error({503, "5.5.1", "Error: send EHLO first"});
    return;
  }
  if (!auth_user_.empty()) {
    reply_error({503, "5.5.1", "Error: already authenticated"});
    return;
  }
  if (tx_.active) {
    reply_error({503, "5.5.1", "Error: MAIL transaction in progress"});
    return;
  }
  if (!plaintext_login_allowed(*conn_, listener_)) {
    reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
    return;
  }
  const std::string& arg = c.argument;
  const std::size_t space = arg.find(' ');
  const std::string mechanism = upper(arg.substr(0, space));
  const std::string initial = space == std::string::npos ? "" : arg.substr(space + 1);
  if (mechanism == "PLAIN") {
    if (initial.empty()) {
      auth_step_ = AuthStep::PlainResponse;
      reply_raw("334 \r\n");
      return;
    }
    auth_step_ = AuthStep::PlainResponse;
    auth_line(initial);
    return;
  }
  if (mechanism == "LOGIN") {
    if (initial.empty()) {
      auth_step_ = AuthStep::LoginUser;
      reply_raw("334 VXNlcm5hbWU6\r\n");  // "Username:"
      return;
    }
    auth_step_ = AuthStep::LoginUser;
    auth_line(initial);
    return;
  }
  reply_error({504, "5.5.4", "Unsupported authentication mechanism"});
}

void SmtpSession::auth_line(const std::string& line) {
  const AuthStep step = auth_step_;
  auth_step_ = AuthStep::None;
  if (line == "*") {
    reply_error({501, "5.7.0", "Authentication cancelled"});
    return;
  }
  if (step == AuthStep::PlainResponse) {
    auto credentials = core::decode_plain(line);
    if (!credentials) {
      if (credentials.error() == core::PlainError::BadBase64) {
        reply_error({501, "5.5.2", "Cannot decode response"});
        return;
      }
      core::log_info("smtp_login")
          .kv("sid", sid_)
          .kv("result", "failed")
          .kv("detail", core::plain_error_name(credentials.error()));
      ++failed_logins_;
      busy_ = true;
      pending_reply_ = "535 5.7.8 Authentication credentials invalid\r\n";
      delay_.arm(kFailedLoginDelay);
      return;
    }
    begin_login(std::move(credentials->user), std::move(credentials->password));
    return;
  }
  std::string decoded;
  if (!mime::decode_base64(line, decoded)) {
    reply_error({501, "5.5.2", "Cannot decode response"});
    return;
  }
  if (step == AuthStep::LoginUser) {
    auth_login_user_ = std::move(decoded);
    auth_step_ = AuthStep::LoginPassword;
    reply_raw("334 UGFzc3dvcmQ6\r\n");  // "Password:"
    return;
  }
  begin_login(std::move(auth_login_user_), core::Secret(std::move(decoded)));
  auth_login_user_.clear();
}

void SmtpSession::begin_login(std::string user, core::Secret password) {
  busy_ = true;
  std::weak_ptr<SmtpSession> weak = weak_from_this();
  auto login = user;
  check_login(ctx_.node, "submission", login, std::move(password), loop_,
              [weak, user = std::move(user)](LoginResult result) {
                auto self = weak.lock();
                if (!self || self->closed_) return;
                self->auth_login_user_ = user;
                self->on_login(std::move(result));
              });
}

void SmtpSession::on_login(LoginResult result) {
  const std::string user = std::move(auth_login_user_);
  auth_login_user_.clear();
  // Sending mail does not need the mailbox: a user of another node may submit here.
  const bool ok = result.outcome == LoginOutcome::Ok || result.outcome == LoginOutcome::WrongNode;
  ctx_.metrics.login(ok ? "ok" : login_outcome_name(result.outcome));
  core::log_info("smtp_login")
      .kv("sid", sid_)
      .kv("user", user)
      .kv("result", ok ? std::string_view("ok") : login_outcome_name(result.outcome))
      .kv("detail", result.detail);
  if (ok) {
    set_authenticated(result.account.address.empty() ? user : result.account.address,
                      result.account.aliases);
    reply(235, "2.7.0", "Authentication successful");
    finish_command();
    return;
  }
  if (result.outcome == LoginOutcome::TempFail) {
    reply(454, "4.7.0", "Temporary authentication failure");
    finish_command();
    return;
  }
  ++failed_logins_;
  pending_reply_ = "535 5.7.8 Authentication credentials invalid\r\n";
  delay_.arm(kFailedLoginDelay);  // busy_ stays set until the timer replies
}

void SmtpSession::set_authenticated(const std::string& address,
                                    const std::vector<std::string>& aliases) {
  auth_user_ = address;
  auth_addresses_ = {mime::ascii_lower(address)};
  for (const auto& alias : aliases) auth_addresses_.push_back(mime::ascii_lower(alias));
}

void SmtpSession::xclient(const Command& c) {
  if (!ctx_.node.config.trusted_proxies.contains(conn_->peer().ip)) {
    reply_error({550, "5.7.0", "Error: insufficient authorization"});
    return;
  }
  if (tx_.active) {
    reply_error({503, "5.5.1", "Error: MAIL transaction in progress"});
    return;
  }
  std::string login;
  for (const XclientAttribute& a : c.xclient) {
    if (a.state != XclientAttribute::State::Value) continue;
    switch (a.name) {
      case XclientAttribute::Name::Addr: {
        std::string text = a.value;
        if (text.rfind("IPV6:", 0) == 0 || text.rfind("ipv6:", 0) == 0) text = text.substr(5);
        auto ip = core::IpAddress::parse(text);
        if (!ip) {
          reply_error({501, "5.5.4", "Bad XCLIENT ADDR"});
          return;
        }
        client_ip_ = *ip;
        client_text_ = ip->to_string();
        break;
      }
      case XclientAttribute::Name::Helo:
        helo_ = a.value;
        break;
      case XclientAttribute::Name::Login:
        login = a.value;
        break;
      default:
        break;  // NAME, PORT, PROTO, DESTADDR, DESTPORT: logs only
    }
  }
  core::log_info("smtp_xclient")
      .kv("sid", sid_)
      .kv("proxy", conn_->peer().to_string())
      .kv("client", client_text_)
      .kv("login", login);
  // Postfix's form: the session starts again with a greeting; the client
  // says EHLO again.
  reset_transaction();
  helo_.clear();
  esmtp_ = false;
  if (login.empty()) {
    reply_raw(fmt::format("220 {} ESMTP Postern\r\n", ctx_.config.hostname));
    return;
  }
  // The proxy authenticated the user: learn their addresses for the sender check.
  busy_ = true;
  std::weak_ptr<SmtpSession> weak = weak_from_this();
  ctx_.node.directory.lookup(login, loop_, [weak, login](mapping::LookupResult r) {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    if (r.status == mapping::LookupStatus::TempFail) {
      self->reply(421, "4.3.0", "Directory unavailable, try again later");
      self->quitting_ = true;
      self->conn_->close_after_flush();
      return;
    }
    self->set_authenticated(r.status == mapping::LookupStatus::Found ? r.account.address : login,
                            r.account.aliases);
    self->reply_raw(fmt::format("220 {} ESMTP Postern\r\n", self->ctx_.config.hostname));
    self->finish_command();
  });
}

}  // namespace postern::node::smtp
