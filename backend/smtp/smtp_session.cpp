#include "backend/smtp/smtp_session.hpp"

#include <event2/buffer.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "core/log.hpp"

namespace postern::node::smtp {

namespace {

using core::smtp::Command;
using core::smtp::LineStatus;
using core::smtp::Verb;

// How much buffered input one codec call looks at.
constexpr std::size_t kFeedBytes = 16 * 1024;
// Command lines: RFC 5321 says 512 octets; Postfix accepts 2048 and AUTH
// responses (RFC 4954 4) may be longer still.
constexpr std::size_t kMaxLine = 4096;
std::string domain_of_sender(const SpfRequest& r) {
  const auto at = r.sender.rfind('@');
  return at == std::string::npos ? r.helo : r.sender.substr(at + 1);
}

// A pipelining client that does not read its replies stops being read above
// this much unsent output.
constexpr std::size_t kReplyHighWater = 256 * 1024;

std::string next_session_id() {
  static std::atomic<std::uint64_t> next{1};
  return fmt::format("s{:x}", next.fetch_add(1, std::memory_order_relaxed));
}

core::Connection::Options connection_options(const core::ListenerConfig& l) {
  core::Connection::Options o;
  o.idle_timeout = l.idle_timeout;  // RFC 5321 4.5.3.2.7: at least 5 minutes
  return o;
}

}  // namespace

SmtpSession::SmtpSession(SmtpContext& context, core::EventLoop& loop, core::DnsResolver& resolver,
                         core::Accepted accepted, Ended ended)
    : ctx_(context),
      loop_(loop),
      resolver_(resolver),
      listener_(*accepted.listener),
      ticket_(std::move(accepted.ticket)),
      ended_(std::move(ended)),
      sid_(next_session_id()),
      submission_(accepted.listener->protocol == "submission"),
      client_ip_(accepted.peer.ip),
      client_text_(accepted.peer.ip.to_string()),
      codec_(core::smtp::LineLimits{kMaxLine}),
      delay_(loop,
             [this] {
               // The timer dies with the session, so `this` is alive here.
               reply_raw(pending_reply_);
               if (failed_logins_ >= listener_.errors.max_failed_logins) {
                 close_reason_ = "too_many_failed_logins";
                 reply_and_close(421, "4.7.0",
                                 "Too many failed authentications, closing connection");
                 return;
               }
               finish_command();
             }),
      spf_deadline_(loop, [this] {
        SpfVerdict late;
        late.result = SpfResult::TempError;
        late.domain = domain_of_sender(*spf_pending_);
        late.problem = "no SPF answer in time (smtp.spf_timeout)";
        on_spf(std::move(late));
      }) {
  ++ctx_.open_sessions;
  ctx_.metrics.sessions().add(1);
  ctx_.metrics.connection();
  conn_ = std::make_unique<core::Connection>(loop, accepted.fd, accepted.peer,
                                             connection_options(listener_), this,
                                             listener_.implicit_tls ? listener_.tls : nullptr);
  core::log_info("smtp_connect")
      .kv("sid", sid_)
      .kv("client", accepted.peer.to_string())
      .kv("listener", listener_.name)
      .kv("tls", listener_.implicit_tls ? "implicit" : "none");
}

SmtpSession::~SmtpSession() {
  if (!closed_) {
    conn_->set_handler(nullptr);
    closed_ = true;
    --ctx_.open_sessions;
    ctx_.metrics.sessions().add(-1);
  }
  // An unfinished message's file is removed by its Incoming: on a worker,
  // since that is disk work.
  if (sink_ && sink_->incoming) {
    auto doomed = std::move(sink_);
    if (!ctx_.node.workers.submit([doomed] {})) sink_.reset();
  }
}

void SmtpSession::start() {
  if (conn_->closed()) {
    on_closed(*conn_, core::CloseReason::Error);
    return;
  }
  if (ctx_.node.draining) {
    close_reason_ = "draining";
    reply_and_close(421, "4.3.2", fmt::format("{} Service shutting down", ctx_.config.hostname));
    return;
  }
  reply_raw(fmt::format("220 {} ESMTP Postern\r\n", ctx_.config.hostname));
}

void SmtpSession::drain() {
  draining_ = true;
  if (!busy_ && !in_data_ && !quitting_ && !closed_) say_goodbye_draining();
}

void SmtpSession::close(std::string_view reason) {
  if (closed_) return;
  close_reason_ = std::string(reason);
  conn_->close();
}

void SmtpSession::say_goodbye_draining() {
  close_reason_ = "draining";
  reply_and_close(421, "4.3.2", fmt::format("{} Service shutting down", ctx_.config.hostname));
}

void SmtpSession::reply(int code, std::string_view enhanced, std::string_view text) {
  reply_raw(fmt::format("{} {} {}\r\n", code, enhanced, text));
}

void SmtpSession::reply_raw(std::string_view lines) {
  if (!closed_) conn_->write(lines);
}

void SmtpSession::reply_error(const core::smtp::Reply& r) {
  if (++bad_commands_ >= listener_.errors.max_bad_commands) {
    close_reason_ = "too_many_errors";
    reply(r.code, r.enhanced, r.text);
    reply_and_close(421, "4.7.0",
                    fmt::format("{} Too many errors, closing connection", ctx_.config.hostname));
    return;
  }
  reply(r.code, r.enhanced, r.text);
}

void SmtpSession::reply_and_close(int code, std::string_view enhanced, std::string_view text) {
  reply(code, enhanced, text);
  quitting_ = true;
  conn_->close_after_flush();
}

void SmtpSession::finish_command() {
  busy_ = false;
  if (draining_ && !in_data_) {
    if (!quitting_ && !closed_) say_goodbye_draining();
    return;
  }
  process_input();
}

void SmtpSession::on_input(core::Connection&) noexcept {
  process_input();
}

void SmtpSession::on_output_drained(core::Connection&) noexcept {
  process_input();
}

void SmtpSession::on_tls_ready(core::Connection&) noexcept {
  core::log_info("smtp_tls").kv("sid", sid_).kv("tls", conn_->tls_description());
  process_input();
}

void SmtpSession::process_input() {
  while (!busy_ && !quitting_ && !closed_) {
    if (in_data_) {
      process_data();
      return;
    }
    if (conn_->output_pending() >= kReplyHighWater) return;
    evbuffer* in = conn_->input();
    const std::size_t available = in != nullptr ? evbuffer_get_length(in) : 0;
    if (available == 0) return;
    const std::size_t n = std::min(available, kFeedBytes);
    const auto* bytes =
        reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(n)));
    core::smtp::LineEvent ev = codec_.feed(std::string_view(bytes, n));
    evbuffer_drain(in, ev.consumed);
    switch (ev.status) {
      case LineStatus::NeedMore:
        break;
      case LineStatus::Error:
        ctx_.metrics.command("");
        auth_step_ = AuthStep::None;
        reply_error(ev.error);
        break;
      case LineStatus::Line:
        handle_line(ev.line);
        break;
    }
  }
}

void SmtpSession::handle_line(const std::string& line) {
  if (auth_step_ != AuthStep::None) {
    auth_line(line);
    return;
  }
  auto parsed = core::smtp::parse_command(line);
  if (!parsed) {
    ctx_.metrics.command("");
    reply_error(parsed.error());
    return;
  }
  handle_command(*parsed);
}

void SmtpSession::handle_command(const Command& c) {
  ctx_.metrics.command(core::smtp::verb_name(c.verb));
  const bool greeted = !helo_.empty();
  switch (c.verb) {
    case Verb::Helo:
    case Verb::Ehlo:
      helo(c, c.verb == Verb::Ehlo);
      return;
    case Verb::Noop:
      reply(250, "2.0.0", "Ok");
      return;
    case Verb::Rset:
      reset_transaction();
      reply(250, "2.0.0", "Ok");
      return;
    case Verb::Quit:
      close_reason_ = "quit";
      reply_and_close(221, "2.0.0", "Bye");
      return;
    case Verb::Vrfy:
      // Never tell who exists (RFC 5321 3.5.3 allows 252).
      reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
      return;
    case Verb::Expn:
      reply_error({502, "5.5.1", "EXPN not available"});
      return;
    case Verb::Help:
      reply(214, "2.0.0", "See RFC 5321; commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT");
      return;
    case Verb::Starttls:
      starttls();
      return;
    case Verb::Auth:
      auth(c);
      return;
    case Verb::Xclient:
      xclient(c);
      return;
    case Verb::Bdat:
      reply_error({502, "5.5.1", "BDAT not supported"});
      return;
    case Verb::Mail:
    case Verb::Rcpt:
    case Verb::Data:
      if (!greeted) {
        reply_error({503, "5.5.1", "Error: send HELO/EHLO first"});
        return;
      }
      if (c.verb == Verb::Mail) {
        mail(c);
      } else if (c.verb == Verb::Rcpt) {
        rcpt(c);
      } else {
        data();
      }
      return;
  }
}

void SmtpSession::helo(const Command& c, bool extended) {
  if (c.argument.empty()) {
    reply_error({501, "5.5.4", fmt::format("Syntax: {} hostname", extended ? "EHLO" : "HELO")});
    return;
  }
  reset_transaction();
  helo_ = c.argument;
  esmtp_ = extended;
  if (!extended) {
    reply_raw(fmt::format("250 {}\r\n", ctx_.config.hostname));
    return;
  }
  std::string out = fmt::format("250-{}\r\n", ctx_.config.hostname);
  out += "250-PIPELINING\r\n";
  out += fmt::format("250-SIZE {}\r\n", ctx_.config.max_message_size);
  out += "250-8BITMIME\r\n";
  if (listener_.starttls_available() && !conn_->tls_active()) out += "250-STARTTLS\r\n";
  if (auth_offered()) out += "250-AUTH PLAIN LOGIN\r\n";
  if (ctx_.node.config.trusted_proxies.contains(conn_->peer().ip))
    out += "250-XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT\r\n";
  out += "250-DSN\r\n";
  out += "250-SMTPUTF8\r\n";
  out += "250 ENHANCEDSTATUSCODES\r\n";
  reply_raw(out);
}

void SmtpSession::reset_transaction() {
  tx_ = Transaction{};
}

bool SmtpSession::trusted_network() const {
  return ctx_.config.relay_networks.contains(client_ip_);
}

void SmtpSession::on_closed(core::Connection&, core::CloseReason reason) noexcept {
  if (closed_) return;
  closed_ = true;
  --ctx_.open_sessions;
  ctx_.metrics.sessions().add(-1);
  log_close(close_reason_.empty() ? core::close_reason_name(reason) : close_reason_);
  if (ended_) ended_(this);
}

void SmtpSession::log_close(std::string_view reason) {
  core::log_info("smtp_disconnect")
      .kv("sid", sid_)
      .kv("client", client_text_)
      .kv("user", auth_user_)
      .kv("messages", messages_)
      .kv("reason", reason);
}

}  // namespace postern::node::smtp
