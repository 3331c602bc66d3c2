#include "backend/queue/smtp_client_session.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace postern::node::queue {

namespace {

using Status = RecipientOutcome::Status;
using namespace std::chrono_literals;

// The message goes out in pieces of this size, read on a worker (the next
// one only once the output buffer has room, smtp_client_transaction.cpp).
constexpr std::size_t kChunkSize = 256 * 1024;

}  // namespace

SmtpMessageChunk read_message_chunk(const std::string& path, std::uint64_t offset) {
  SmtpMessageChunk chunk;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    chunk.error = std::strerror(errno);
    return chunk;
  }
  chunk.data.resize(kChunkSize);
  std::size_t got = 0;
  while (got < kChunkSize) {
    ssize_t n =
        ::pread(fd, chunk.data.data() + got, kChunkSize - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      chunk.error = std::strerror(errno);
      break;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  chunk.data.resize(got);
  chunk.eof = got < kChunkSize;
  return chunk;
}

namespace {}  // namespace

RecipientOutcome::Status status_of_reply(const SmtpReply& r) {
  if (r.positive()) return Status::Delivered;
  return r.permanent() ? Status::PermFail : Status::TempFail;
}

namespace {

const char* step_name(int step) {
  static const char* const kNames[] = {
      "new",  "connecting", "greeting", "ehlo", "helo", "starttls", "tls",  "ehlo2", "idle",
      "rset", "mail",       "rcpt",     "data", "body", "dot",      "quit", "closed"};
  return kNames[step];
}

}  // namespace

std::shared_ptr<SmtpClientSession> SmtpClientSession::create(core::EventLoop& loop,
                                                             core::WorkerPool& workers,
                                                             SmtpSessionSettings settings,
                                                             SmtpTarget target) {
  return std::make_shared<SmtpClientSession>(loop, workers, std::move(settings), std::move(target));
}

SmtpClientSession::SmtpClientSession(core::EventLoop& loop, core::WorkerPool& workers,
                                     SmtpSessionSettings settings, SmtpTarget target)
    : loop_(loop),
      workers_(workers),
      settings_(std::move(settings)),
      target_(std::move(target)),
      retry_(loop, [this] { read_chunk(); }) {}

SmtpClientSession::~SmtpClientSession() = default;

std::string SmtpClientSession::remote_mta() const {
  return fmt::format("{} [{}]", target_.host, target_.ip.to_string());
}

bool SmtpClientSession::idle() const {
  return step_ == Step::Idle && conn_ != nullptr && !conn_->closed();
}

void SmtpClientSession::enter(Step next) {
  core::log_debug("smtp_client_step")
      .kv("mta", remote_mta())
      .kv("from", step_name(static_cast<int>(step_)))
      .kv("to", step_name(static_cast<int>(next)));
  step_ = next;
}

void SmtpClientSession::send(const std::string& line) {
  conn_->write(line);
  conn_->write("\r\n");
}

// ---- Opening -----------------------------------------------------------------

void SmtpClientSession::open(bool use_tls, std::function<void(SmtpOpenResult)> done) {
  assert(step_ == Step::New);
  use_tls_ = use_tls && settings_.tls != nullptr;
  open_done_ = std::move(done);
  enter(Step::Connecting);
  std::weak_ptr<SmtpClientSession> weak = weak_from_this();
  connecting_ =
      core::connect_tcp(loop_, core::Endpoint{target_.ip.to_string(), target_.port},
                        settings_.connect_timeout, [weak](int fd, const std::string& error) {
                          if (auto self = weak.lock()) {
                            self->on_connected(fd, error);
                          } else if (fd >= 0) {
                            ::close(fd);
                          }
                        });
}

void SmtpClientSession::on_connected(int fd, const std::string& error) {
  if (step_ != Step::Connecting) {
    if (fd >= 0) ::close(fd);
    return;
  }
  if (fd < 0) {
    open_failed({false, false, false, false,
                 fmt::format("451 4.4.1 cannot connect to {} port {}: {}", remote_mta(),
                             target_.port, error)},
                false);
    return;
  }
  core::Connection::Options options;
  // Read and write timeouts: no reply (or no progress sending) for this long
  // closes the connection with CloseReason::Timeout.
  options.idle_timeout = settings_.command_timeout;
  conn_ = std::make_unique<core::Connection>(loop_, fd, core::PeerAddress{target_.ip, target_.port},
                                             options, this);
  enter(Step::Greeting);
  if (conn_->closed()) on_closed(*conn_, core::CloseReason::Error);
}

void SmtpClientSession::on_open_reply(const SmtpReply& reply) {
  auto refuse = [&] {
    open_failed({false, false, true, reply.permanent(), reply.to_string()}, true);
  };
  switch (step_) {
    case Step::Greeting:
      if (!reply.positive()) return refuse();
      send("EHLO " + settings_.helo_name);
      return enter(Step::Ehlo);
    case Step::Ehlo:
      if (reply.permanent()) {  // an old server: RFC 5321 4.1.1.1 fallback
        send("HELO " + settings_.helo_name);
        return enter(Step::Helo);
      }
      if (!reply.positive()) return refuse();
      ext_ = parse_ehlo(reply);
      if (use_tls_ && ext_.starttls && !conn_->tls_active()) {
        send("STARTTLS");
        return enter(Step::StartTls);
      }
      return open_done();
    case Step::Helo:
      if (!reply.positive()) return refuse();
      ext_ = {};
      return open_done();
    case Step::StartTls:
      if (reply.code != 220) return open_done();  // opportunistic: go on in plaintext
      enter(Step::Handshake);
      if (!conn_->start_tls(settings_.tls, target_.sni ? target_.host : "")) {
        open_failed({false, true, false, false,
                     fmt::format("451 4.7.5 cannot start TLS with {}", remote_mta())},
                    false);
      }
      return;
    case Step::Ehlo2:
      if (!reply.positive()) return refuse();
      ext_ = parse_ehlo(reply);
      return open_done();
    default:
      return;
  }
}

void SmtpClientSession::on_tls_ready(core::Connection&) noexcept {
  if (step_ != Step::Handshake) return;
  // RFC 3207 4.2: forget what the server said before TLS; ask again.
  send("EHLO " + settings_.helo_name);
  enter(Step::Ehlo2);
}

void SmtpClientSession::open_failed(SmtpOpenResult result, bool say_quit) {
  enter(Step::Closed);
  if (conn_ != nullptr && !conn_->closed()) {
    if (say_quit) {
      send("QUIT");
      conn_->close_after_flush();
    } else {
      conn_->close();
    }
  }
  connecting_.reset();
  if (!open_done_) return;
  loop_.post([self = shared_from_this(), done = std::move(open_done_),
              result = std::move(result)]() mutable { done(std::move(result)); });
  open_done_ = nullptr;
}

void SmtpClientSession::open_done() {
  enter(Step::Idle);
  SmtpOpenResult result;
  result.ok = true;
  result.answered = true;
  loop_.post([self = shared_from_this(), done = std::move(open_done_),
              result = std::move(result)]() mutable { done(std::move(result)); });
  open_done_ = nullptr;
}

// ---- Input -------------------------------------------------------------------

void SmtpClientSession::on_input(core::Connection& c) noexcept {
  std::string bytes = c.read_bytes(c.input_size());
  std::string_view rest = bytes;
  // Stop at the handshake: bytes after the STARTTLS reply are dropped
  // (never read as if they had come under TLS).
  while (!rest.empty() && step_ != Step::Closed && step_ != Step::Handshake) {
    ReplyEvent ev = parser_.feed(rest);
    rest.remove_prefix(ev.consumed);
    if (ev.status == ReplyStatus::Error) return protocol_error(ev.error);
    if (ev.status == ReplyStatus::Reply) on_reply(std::move(ev.reply));
  }
}

void SmtpClientSession::on_reply(SmtpReply reply) {
  switch (step_) {
    case Step::Greeting:
    case Step::Ehlo:
    case Step::Helo:
    case Step::StartTls:
    case Step::Ehlo2:
      return on_open_reply(reply);
    case Step::Rset:
    case Step::Mail:
    case Step::Rcpt:
    case Step::Data:
    case Step::Dot:
      return on_transaction_reply(reply);
    case Step::Idle:
      // Unsolicited, e.g. "421 idle too long": the connection is done.
      conn_->close();  // on_closed() tells the owner
      return;
    default:
      return;  // QUIT's 221, or a reply during the body: ignored
  }
}

void SmtpClientSession::protocol_error(const std::string& why) {
  std::string text = fmt::format("451 4.5.0 bad reply from {}: {}", remote_mta(), why);
  Step was = step_;
  enter(Step::Closed);
  conn_->close();
  if (was >= Step::Greeting && was <= Step::Ehlo2) {
    open_failed({false, was == Step::Handshake, true, false, text}, false);
  } else if (was == Step::Idle) {
    if (on_idle_closed_) loop_.post([self = shared_from_this(), cb = on_idle_closed_] { cb(); });
  } else if (was == Step::Rset) {
    finish_transaction(true);
  } else if (was >= Step::Mail && was <= Step::Dot) {
    fail_open_recipients(Status::TempFail, text);
    finish_transaction(false);
  }
}

void SmtpClientSession::on_closed(core::Connection&, core::CloseReason reason) noexcept {
  Step was = step_;
  if (was == Step::Closed) return;  // we closed it and already reported
  enter(Step::Closed);
  std::string why =
      reason == core::CloseReason::Timeout
          ? fmt::format("timeout waiting for {} after {}", remote_mta(),
                        step_name(static_cast<int>(was)))
          : fmt::format("connection with {} lost after {} ({})", remote_mta(),
                        step_name(static_cast<int>(was)), core::close_reason_name(reason));
  switch (was) {
    case Step::Greeting:
    case Step::Ehlo:
    case Step::Helo:
    case Step::StartTls:
    case Step::Ehlo2:
      return open_failed({false, false, false, false, "451 4.4.2 " + why}, false);
    case Step::Handshake:
      return open_failed({false, true, false, false,
                          fmt::format("451 4.7.5 TLS handshake with {} failed ({})", remote_mta(),
                                      core::close_reason_name(reason))},
                         false);
    case Step::Idle:
      if (on_idle_closed_) loop_.post([self = shared_from_this(), cb = on_idle_closed_] { cb(); });
      return;
    case Step::Rset:
      return finish_transaction(true);
    case Step::Mail:
    case Step::Rcpt:
    case Step::Data:
    case Step::Body:
    case Step::Dot:
      return connection_lost("451 4.4.2 " + why);
    case Step::Quit:
      if (on_gone_) loop_.post([self = shared_from_this(), cb = std::move(on_gone_)] { cb(); });
      return;
    default:
      return;
  }
}

void SmtpClientSession::quit(std::function<void()> on_gone) {
  on_gone_ = std::move(on_gone);
  if (conn_ == nullptr || conn_->closed() || step_ == Step::Closed) {
    enter(Step::Closed);
    connecting_.reset();
    if (on_gone_) loop_.post([self = shared_from_this(), cb = std::move(on_gone_)] { cb(); });
    return;
  }
  enter(Step::Quit);
  send("QUIT");
  conn_->close_after_flush();
}

}  // namespace postern::node::queue
