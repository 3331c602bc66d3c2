// The client's side of the SMTP proxy before the hand-off: the same answers,
// in the same words, as the node's SMTP server (backend/smtp/smtp_session*.cpp),
// so a client cannot tell where the session changes hands.
#include "proxy/smtp_proxy.hpp"

#include <fmt/format.h>

#include "core/log.hpp"

namespace postern::proxy {

namespace {

using core::smtp::Command;
using core::smtp::Verb;

// The node's command line limit: RFC 5321 says 512, Postfix takes 2048, and
// AUTH responses may be longer still.
constexpr std::size_t kMaxLine = 4096;

std::string ascii_lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string domain_of(const std::string& address) {
  const auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

}  // namespace

SmtpProxySession::SmtpProxySession(ProxyContext& ctx, core::EventLoop& loop,
                                   core::Accepted accepted, std::string protocol, Ended ended)
    : ProxySession(ctx, loop, std::move(accepted), std::move(protocol), std::move(ended)),
      submission_(proto() == "submission") {}

void SmtpProxySession::greet() {
  send(fmt::format("220 {} ESMTP Postern\r\n", config().smtp.hostname));
}

std::string SmtpProxySession::goodbye(std::string_view why) const {
  const std::string& host = config().smtp.hostname;
  if (why == "login timeout") return fmt::format("421 4.4.2 {} Error: timeout exceeded\r\n", host);
  if (why == "shutting down") return fmt::format("421 4.3.2 {} Service shutting down\r\n", host);
  return fmt::format("421 4.3.2 {} {}\r\n", host, why);
}

void SmtpProxySession::reply(int code, std::string_view enhanced, std::string_view text) {
  send(fmt::format("{} {} {}\r\n", code, enhanced, text));
}

void SmtpProxySession::error(const core::smtp::Reply& r) {
  reply(r.code, r.enhanced, r.text);
  if (bad_command()) {
    close_with("4.7.0",
               fmt::format("{} Too many errors, closing connection", config().smtp.hostname),
               "too_many_errors");
  }
}

void SmtpProxySession::close_with(std::string_view enhanced, std::string_view text,
                                  std::string_view reason) {
  reply(421, enhanced, text);
  quitting_ = true;
  quit(reason);
}

// One line at a time, and only while in Login: what follows the command that
// starts routing stays in the input for the node (the pump sends it on).
void SmtpProxySession::on_client_input() {
  while (state() == State::Login && !quitting_ && !client().closed()) {
    bool too_long = false;
    auto line = client().read_line(kMaxLine, &too_long);
    if (too_long) {
      auth_step_ = AuthStep::None;
      error({500, "5.5.2", "Error: line too long"});
      continue;
    }
    if (!line) return;
    handle_line(*line);
  }
}

void SmtpProxySession::handle_line(const std::string& line) {
  if (line.find('\0') != std::string::npos) {
    auth_step_ = AuthStep::None;
    return error({500, "5.5.2", "Error: NUL character in command"});
  }
  if (auth_step_ != AuthStep::None) return auth_line(line);
  auto parsed = core::smtp::parse_command(line);
  if (!parsed) return error(parsed.error());
  command(*parsed, line);
}

void SmtpProxySession::command(const Command& c, const std::string& line) {
  switch (c.verb) {
    case Verb::Helo:
    case Verb::Ehlo:
      return helo(c, c.verb == Verb::Ehlo);
    case Verb::Noop:
      return reply(250, "2.0.0", "Ok");
    case Verb::Rset:
      reset_transaction();
      return reply(250, "2.0.0", "Ok");
    case Verb::Quit:
      reply(221, "2.0.0", "Bye");
      quitting_ = true;
      return quit("quit");
    case Verb::Vrfy:
      return reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
    case Verb::Expn:
      return error({502, "5.5.1", "EXPN not available"});
    case Verb::Help:
      return reply(214, "2.0.0", "See RFC 5321; commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT");
    case Verb::Starttls:
      return starttls();
    case Verb::Auth:
      return auth(c);
    case Verb::Xclient:
      // Nobody is trusted to speak for a client here.
      return error({550, "5.7.0", "Error: insufficient authorization"});
    case Verb::Bdat:
      return error({502, "5.5.1", "BDAT not supported"});
    case Verb::Mail:
    case Verb::Rcpt:
    case Verb::Data:
      if (helo_.empty()) return error({503, "5.5.1", "Error: send HELO/EHLO first"});
      if (c.verb == Verb::Mail) return mail(c, line);
      if (c.verb == Verb::Rcpt) return rcpt(c, line);
      return data();
  }
}

void SmtpProxySession::helo(const Command& c, bool extended) {
  reset_transaction();
  helo_ = c.argument;
  esmtp_ = extended;
  if (!extended) return send(fmt::format("250 {}\r\n", config().smtp.hostname));
  send(smtp_ehlo_reply(config().smtp, starttls_offered(), auth_offered()));
}

void SmtpProxySession::starttls() {
  if (client().tls_active()) return error({503, "5.5.1", "Error: TLS already active"});
  if (!starttls_offered()) return reply(454, "4.7.0", "TLS not available");
  reply(220, "2.0.0", "Ready to start TLS");
  // RFC 3207 4.2: forget everything learnt before the handshake; the client
  // says EHLO again. Bytes sent before the handshake are discarded by the
  // connection (never read as if they came under TLS).
  reset_transaction();
  helo_.clear();
  esmtp_ = false;
  start_client_tls();
}

void SmtpProxySession::reset_transaction() {
  mail_line_.clear();
  mail_smtputf8_ = false;
}

void SmtpProxySession::mail(const Command& c, const std::string& line) {
  if (!mail_line_.empty()) return error({503, "5.5.1", "Error: nested MAIL command"});
  // Submission hands the session off at AUTH, so MAIL here is always early.
  if (submission_) return error({530, "5.7.0", "Authentication required"});
  std::uint64_t size = 0;
  bool smtputf8 = false;
  for (const auto& p : c.parameters) {
    if (p.keyword == "SIZE" && p.value) size = std::strtoull(p.value->c_str(), nullptr, 10);
    if (p.keyword == "SMTPUTF8") smtputf8 = true;
  }
  if (size > config().smtp.max_message_size)
    return reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
  if (c.path.utf8 && !smtputf8)
    return error({553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter"});
  // Kept as sent: the node sees the client's own command (parameters and
  // all) when it is replayed.
  mail_line_ = line;
  mail_smtputf8_ = smtputf8;
  reply(250, "2.1.0", "Ok");
}

void SmtpProxySession::rcpt(const Command& c, const std::string& line) {
  if (mail_line_.empty()) return error({503, "5.5.1", "Error: need MAIL command"});
  if (c.path.utf8 && !mail_smtputf8_)
    return error({553, "5.6.7", "Non-ASCII address requires SMTPUTF8"});
  const auto& smtp = config().smtp;
  std::string address = c.path.postmaster ? "postmaster" : c.path.address();
  if (c.path.domain.empty()) address += "@" + smtp.primary_domain;
  const auto at = address.rfind('@');
  address = address.substr(0, at + 1) + ascii_lower(address.substr(at + 1));
  if (!smtp.local_domains.contains(domain_of(address))) {
    // Only authenticated sessions relay, and this one is not (an "smtp"
    // listener offers no AUTH): refused here, the directory is not asked.
    core::log_info("proxy_smtp_reject")
        .kv("sid", sid())
        .kv("reason", "relay_denied")
        .kv("client", peer().to_string())
        .kv("to", address);
    return error({554, "5.7.1", fmt::format("<{}>: Relay access denied", address)});
  }
  rcpt_line_ = line;
  rcpt_address_ = address;
  lookup_address(address, [this](mapping::LookupResult r) { routed(r); });
}

// The first local recipient's account chooses the node; a recipient that is
// refused leaves the session here for the next RCPT.
void SmtpProxySession::routed(const mapping::LookupResult& r) {
  const std::string& address = rcpt_address_;
  switch (r.status) {
    case mapping::LookupStatus::TempFail:
      core::log_warn("proxy_smtp_rcpt_tempfail")
          .kv("sid", sid())
          .kv("to", address)
          .kv("detail", r.detail);
      return reply(451, "4.3.0",
                   fmt::format("<{}>: Temporary lookup failure, try again later", address));
    case mapping::LookupStatus::NotFound:
      return error(
          {550, "5.1.1", fmt::format("<{}>: Recipient address rejected: User unknown", address)});
    case mapping::LookupStatus::Found:
      break;
  }
  if (r.account.state == mapping::AccountState::Disabled)
    return error({550, "5.2.1", fmt::format("<{}>: Mailbox disabled", address)});
  core::log_info("proxy_smtp_route")
      .kv("sid", sid())
      .kv("to", address)
      .kv("node", r.account.node)
      .kv("stale", r.stale);
  connect_node(r.account.node);
}

void SmtpProxySession::data() {
  if (mail_line_.empty()) return error({503, "5.5.1", "Error: need MAIL command"});
  // A recipient accepted here would have handed the session to its node.
  error({554, "5.5.1", "Error: no valid recipients"});
}

void SmtpProxySession::node_failed(std::string_view why) {
  password_ = core::Secret();
  core::log_info("proxy_smtp_unavailable").kv("sid", sid()).kv("why", why);
  if (submission_) {
    auth_user_.clear();
    return reply(451, "4.4.1", "Mail server temporarily unavailable, try again later");
  }
  // The transaction goes on: the client may try another recipient, RSET or
  // QUIT.
  reply(451, "4.4.1",
        fmt::format("<{}>: Mail server temporarily unavailable, try again later", rcpt_address_));
}

std::shared_ptr<ProxySession> make_smtp_session(ProxyContext& ctx, core::EventLoop& loop,
                                                core::Accepted accepted,
                                                ProxySession::Ended ended) {
  std::string protocol = accepted.listener->protocol == "submission" ? "submission" : "smtp";
  return std::make_shared<SmtpProxySession>(ctx, loop, std::move(accepted), std::move(protocol),
                                            std::move(ended));
}

}  // namespace postern::proxy
