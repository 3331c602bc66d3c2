#include "backend/pop3/pop3_session.hpp"

#include <event2/buffer.h>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>

#include "core/log.hpp"

namespace postern::node::pop3 {

namespace {

// How much buffered input one codec call looks at.
constexpr std::size_t kFeedBytes = 4096;
// A pipelining client that does not read its replies (LIST after LIST) stops
// being read above this much unsent output; on_output_drained resumes.
constexpr std::size_t kReplyHighWater = 256 * 1024;

std::string next_session_id() {
  static std::atomic<std::uint64_t> next{1};
  return fmt::format("p{:x}", next.fetch_add(1, std::memory_order_relaxed));
}

core::Connection::Options connection_options(const core::ListenerConfig& l) {
  core::Connection::Options o;
  // RFC 1939 section 3 asks for an autologout timer of at least 10 minutes;
  // the listener's default (30) does, and an operator may choose otherwise.
  o.idle_timeout = l.idle_timeout;
  return o;
}

}  // namespace

Pop3Session::Pop3Session(Pop3Context& context, core::EventLoop& loop, core::Accepted accepted,
                         Ended ended)
    : ctx_(context),
      loop_(loop),
      listener_(*accepted.listener),
      ticket_(std::move(accepted.ticket)),
      ended_(std::move(ended)),
      sid_(next_session_id()),
      started_(std::chrono::steady_clock::now()),
      client_(accepted.peer),
      delay_(loop, [this] {
        // The timer dies with the session, so `this` is alive here.
        busy_ = false;
        reply(pending_reply_);
        if (failed_logins_ >= listener_.errors.max_failed_logins) {
          close_reason_ = "too_many_failed_logins";
          quitting_ = true;
          release_output();
          conn_->close_after_flush();
          return;
        }
        finish_command();
      }) {
  ++ctx_.open_sessions;
  ctx_.metrics.sessions().add(1);
  ctx_.metrics.connection();
  conn_ = std::make_unique<core::Connection>(loop, accepted.fd, accepted.peer,
                                             connection_options(listener_), this,
                                             listener_.implicit_tls ? listener_.tls : nullptr);
  auto line = core::log_info("pop3_connect");
  line.kv("sid", sid_)
      .kv("client", accepted.peer.to_string())
      .kv("listener", listener_.name)
      .kv("tls", listener_.implicit_tls ? "implicit" : "none");
  // The load balancer, when the listener took the client from a PROXY header.
  if (accepted.via) line.kv("via", accepted.via->to_string());
}

Pop3Session::~Pop3Session() {
  if (!closed_) {
    // Destroyed while open (the node stops): no callback may come back.
    conn_->set_handler(nullptr);
    closed_ = true;
    --ctx_.open_sessions;
    ctx_.metrics.sessions().add(-1);
  }
}

void Pop3Session::start() {
  if (conn_->closed()) {  // the socket could not be set up: no callback will come
    on_closed(*conn_, core::CloseReason::Error);
    return;
  }
  if (ctx_.node.draining) {
    close_reason_ = "draining";
    reply_and_close("-ERR [SYS/TEMP] Server shutting down");
    return;
  }
  reply("+OK Postern ready.");
}

void Pop3Session::drain() {
  draining_ = true;
  if (!busy_ && !quitting_ && !closed_) say_goodbye_draining();
}

void Pop3Session::close(std::string_view reason) {
  if (closed_) return;
  close_reason_ = std::string(reason);
  conn_->close();  // on_closed runs before this returns
}

void Pop3Session::say_goodbye_draining() {
  // RFC 1939: no UPDATE state; the marks of this session are forgotten.
  close_reason_ = "draining";
  reply_and_close("-ERR [SYS/TEMP] Server shutting down");
}

void Pop3Session::reply(std::string_view line) {
  std::string out;
  out.reserve(line.size() + 2);
  out.append(line);
  out.append("\r\n");
  this->out(out);
}

void Pop3Session::out(std::string_view bytes) {
  if (closed_ || bytes.empty()) return;
  if (!holding_) {
    conn_->write(bytes);
    return;
  }
  held_.append(bytes);
}

void Pop3Session::release_output() {
  holding_ = false;
  if (held_.empty()) return;
  if (!closed_) conn_->write(held_);
  held_.clear();
  if (held_.capacity() > 1024) held_.shrink_to_fit();
}

void Pop3Session::reply_and_close(std::string_view line) {
  reply(line);
  quitting_ = true;
  release_output();
  conn_->close_after_flush();
}

void Pop3Session::finish_command() {
  busy_ = false;
  process_input();
}

void Pop3Session::on_input(core::Connection&) noexcept {
  process_input();
}

void Pop3Session::process_input() {
  // Replies to one batch of pipelined commands are held while a later
  // command of the batch runs asynchronously (a login on the directory):
  // they leave in one write with its reply, so a proxy that sends XCLIENT
  // and AUTH together wakes up once. When the session waits for the client,
  // nothing stays held.
  //
  // A command finished at once (finish_command() inside handle_command(),
  // e.g. a RETR refused because the worker queue is full) comes back here:
  // the loop below goes on with the next command instead of nesting one
  // call per pipelined command.
  if (reading_input_) return;
  reading_input_ = true;
  holding_ = true;
  struct Release {
    Pop3Session& s;
    ~Release() {
      s.reading_input_ = false;
      if (!s.busy_ || s.held_.empty() || s.quitting_ || s.closed_) s.release_output();
    }
  } release{*this};
  while (!busy_ && !quitting_ && !closed_) {
    if (draining_) {
      say_goodbye_draining();
      return;
    }
    if (conn_->output_pending() + held_.size() >= kReplyHighWater) return;
    evbuffer* in = conn_->input();
    const std::size_t available = in != nullptr ? evbuffer_get_length(in) : 0;
    if (available == 0) return;
    const std::size_t n = std::min(available, kFeedBytes);
    const auto* data =
        reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(n)));
    CodecResult r = codec_.feed(std::string_view(data, n));
    evbuffer_drain(in, r.consumed);
    switch (r.status) {
      case CodecStatus::NeedMore:
        break;
      case CodecStatus::TooLong:
        ctx_.metrics.command("");
        bad_command("Line too long");
        break;
      case CodecStatus::Line:
        auth_response(r.line);
        break;
      case CodecStatus::Command:
        handle_command(r.command);
        break;
    }
  }
}

void Pop3Session::bad_command(std::string_view text) {
  if (++bad_commands_ >= listener_.errors.max_bad_commands) {
    close_reason_ = "too_many_bad_commands";
    reply_and_close("-ERR Too many invalid commands, closing connection");
    return;
  }
  reply(fmt::format("-ERR {}", text));
}

void Pop3Session::handle_command(const Pop3Command& command) {
  ctx_.metrics.command(command.name);
  auto checked = check_command(command, state_);
  if (!checked) {
    bad_command(check_error_text(checked.error()));
    return;
  }
  const CheckedCommand& c = *checked;
  switch (c.verb) {
    case Verb::Capa:
      capa();
      return;
    case Verb::Quit:
      if (state_ == Pop3State::Transaction) {
        update();
      } else {
        close_reason_ = "quit";
        reply_and_close("+OK Logging out.");
      }
      return;
    case Verb::User:
      user(c);
      return;
    case Verb::Pass:
      pass(c);
      return;
    case Verb::Auth:
      auth(c);
      return;
    case Verb::Stls:
      stls();
      return;
    case Verb::Xclient:
      xclient(c);
      return;
    default:
      transaction(c);
      return;
  }
}

void Pop3Session::capa() {
  std::string out =
      "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
      "PIPELINING\r\n";
  if (state_ == Pop3State::Authorization) {
    // Like Dovecot: what cannot be used here and now is not advertised.
    if (plaintext_login_allowed(*conn_, listener_)) out += "USER\r\nSASL PLAIN\r\n";
    if (listener_.starttls_available() && !conn_->tls_active()) out += "STLS\r\n";
    if (trusted_proxy()) out += "XCLIENT\r\n";
  }
  out += "IMPLEMENTATION Postern\r\n.\r\n";
  this->out(out);
}

void Pop3Session::stls() {
  if (!listener_.starttls_available() || conn_->tls_active()) {
    bad_command(conn_->tls_active() ? "TLS is already active" : "STLS is not available");
    return;
  }
  reply("+OK Begin TLS negotiation now.");
  busy_ = true;      // nothing is read until the handshake is done
  release_output();  // in the clear, before the handshake
  if (!conn_->start_tls(listener_.tls)) {
    close_reason_ = "tls_failed";
    conn_->close();
  }
}

bool Pop3Session::trusted_proxy() const {
  return ctx_.node.config.trusted_proxies.contains(conn_->peer().ip);
}

void Pop3Session::xclient(const CheckedCommand& c) {
  if (!trusted_proxy()) {
    // Only a proxy may speak for someone else; anyone else keeps their own address.
    reply("-ERR [AUTH] XCLIENT not permitted");
    return;
  }
  if (c.client_ip) client_.ip = *c.client_ip;
  if (c.client_port) client_.port = *c.client_port;
  core::log_info("pop3_xclient")
      .kv("sid", sid_)
      .kv("proxy", conn_->peer().to_string())
      .kv("client", client_.to_string());
  reply("+OK");
}

void Pop3Session::on_tls_ready(core::Connection&) noexcept {
  if (!busy_) return;  // implicit TLS: the greeting is already queued
  // RFC 2595 section 4: the client must discard what it knew; so do we.
  codec_.reset();
  pending_user_.clear();
  core::log_info("pop3_starttls").kv("sid", sid_).kv("tls", conn_->tls_description());
  finish_command();
}

void Pop3Session::on_closed(core::Connection&, core::CloseReason reason) noexcept {
  if (closed_) return;
  closed_ = true;
  holding_ = false;
  held_ = std::string();
  delay_.cancel();
  log_close(close_reason_.empty() ? core::close_reason_name(reason) : close_reason_);
  // Jobs in flight keep what they need; the lock goes when the UPDATE job (if
  // any) is done with the maildrop.
  stream_.reset();
  account_.reset();
  lock_.reset();
  --ctx_.open_sessions;
  ctx_.metrics.sessions().add(-1);
  if (ended_) ended_(this);
}

void Pop3Session::log_close(std::string_view reason) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started_)
                      .count();
  core::log_info("pop3_logout")
      .kv("sid", sid_)
      .kv("client", client_.to_string())
      .kv("user", address_.empty() ? login_user_ : address_)
      .kv("reason", reason)
      .kv("retr", retr_count_)
      .kv("retr_bytes", retr_bytes_)
      .kv("top", top_count_)
      .kv("deleted", deleted_at_quit_)
      .kv("duration_ms", ms);
}

}  // namespace postern::node::pop3
