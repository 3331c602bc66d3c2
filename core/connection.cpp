#include "core/connection.hpp"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace postern::core {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

constexpr int kBevOptions = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

}  // namespace

std::string_view close_reason_name(CloseReason r) {
  switch (r) {
    case CloseReason::PeerClosed:
      return "peer_closed";
    case CloseReason::Timeout:
      return "timeout";
    case CloseReason::Error:
      return "error";
    case CloseReason::TlsError:
      return "tls_error";
    case CloseReason::Local:
      return "local";
  }
  return "?";
}

Connection::Connection(EventLoop& loop, int fd, PeerAddress peer, Options options, Handler* handler,
                       std::shared_ptr<TlsContext> tls, const std::string& server_name)
    : loop_(loop), peer_(peer), options_(options), handler_(handler) {
  if (!options.nonblocking) evutil_make_socket_nonblocking(fd);
  if (!options.nodelay_inherited) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (tls) {
    SslPtr ssl = tls->new_ssl(server_name);
    auto state = tls->is_server() ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING;
    bev_ = bufferevent_openssl_socket_new(loop.base(), fd, ssl.release(), state, kBevOptions);
    tls_ = std::move(tls);
    handshaking_ = true;
  } else {
    bev_ = bufferevent_socket_new(loop.base(), fd, kBevOptions);
  }
  if (bev_ == nullptr) {
    ::close(fd);
    closed_ = true;
    return;
  }
  setup_callbacks();
}

Connection::~Connection() {
  read_ev_.reset();
  if (bev_ != nullptr) bufferevent_free(bev_);
}

void Connection::setup_callbacks() {
  if (tls_) bufferevent_openssl_set_allow_dirty_shutdown(bev_, 1);
  bufferevent_setcb(bev_, &Connection::on_read, &Connection::on_write, &Connection::on_event, this);
  bufferevent_setwatermark(bev_, EV_READ, 0, options_.max_input);
  bufferevent_setwatermark(bev_, EV_WRITE, options_.output_low_water, 0);
  // Plain direct-write connections arm the write event only while output
  // waits (arm_write()): enabling it on an empty buffer costs an epoll_ctl to
  // arm it and another when it fires with nothing to do. They read through
  // their own event (on_direct_read).
  const bool direct = options_.direct_write && !tls_;
  if (direct && !read_ev_) {
    read_ev_.reset(event_new(loop_.base(), bufferevent_getfd(bev_), EV_READ | EV_PERSIST,
                             &Connection::on_direct_read, this));
  }
  if (direct && read_ev_) {
    write_armed_ = false;
    timeval tv = to_timeval(options_.idle_timeout);
    bufferevent_set_timeouts(bev_, nullptr, &tv);
    update_read();
    return;
  }
  read_ev_.reset();
  set_idle_timeout(options_.idle_timeout);
  write_armed_ = true;
  bufferevent_enable(bev_, EV_READ | EV_WRITE);
}

void Connection::add_read_event() {
  // A zero idle timeout means none, as for bufferevents.
  timeval tv = to_timeval(options_.idle_timeout);
  const bool timed = options_.idle_timeout.count() > 0;
  read_armed_ = event_add(read_ev_.get(), timed ? &tv : nullptr) == 0;
}

void Connection::update_read() {
  if (!read_ev_) return;
  const bool should =
      want_read_ && !closing_ && !closed_ && bev_ != nullptr && input_size() < options_.max_input;
  if (should && !read_armed_) {
    add_read_event();
  } else if (!should && read_armed_) {
    event_del(read_ev_.get());
    read_armed_ = false;
  }
}

void Connection::on_direct_read(int fd, short what, void* self) noexcept {
  auto* c = static_cast<Connection*>(self);
  if (c->closed_ || c->bev_ == nullptr) return;
  if ((what & EV_TIMEOUT) != 0) return c->finish(CloseReason::Timeout);
  evbuffer* in = bufferevent_get_input(c->bev_);
  const std::size_t have = evbuffer_get_length(in);
  if (have >= c->options_.max_input) return c->update_read();
  // One recv per readiness into a per-thread buffer, then appended: a login
  // line costs one copy of a few bytes; bulk transfers move to splice.
  thread_local std::array<char, 64 * 1024> buffer;
  const std::size_t want = std::min(buffer.size(), c->options_.max_input - have);
  ssize_t n = ::recv(fd, buffer.data(), want, 0);
  if (n > 0) {
    // A socket bufferevent keeps the end of its input frozen except while it
    // reads itself.
    evbuffer_unfreeze(in, 0);
    evbuffer_add(in, buffer.data(), static_cast<std::size_t>(n));
    evbuffer_freeze(in, 0);
    if (static_cast<std::size_t>(n) + have >= c->options_.max_input) c->update_read();
    if (!c->closing_ && c->handler_ != nullptr) c->handler_->on_input(*c);
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n < 0) {
    c->error_text_ = std::strerror(errno);
    return c->finish(CloseReason::Error);
  }
  // End of stream. A client may send its last command and close at once:
  // serve what came.
  if (c->input_size() > 0 && !c->closing_ && c->handler_ != nullptr) c->handler_->on_input(*c);
  c->finish(CloseReason::PeerClosed);
}

void Connection::arm_write() {
  if (write_armed_ || bev_ == nullptr) return;
  write_armed_ = true;
  bufferevent_enable(bev_, EV_WRITE);
}

void Connection::queue(const void* bytes, std::size_t n) {
  arm_write();
  bufferevent_write(bev_, bytes, n);
}

void Connection::queue_buffer(evbuffer* from) {
  arm_write();
  bufferevent_write_buffer(bev_, from);
}

void Connection::queue_buffer(evbuffer* from, std::size_t n) {
  arm_write();
  evbuffer_remove_buffer(from, bufferevent_get_output(bev_), n);
}

evbuffer* Connection::input() const {
  return bev_ != nullptr ? bufferevent_get_input(bev_) : nullptr;
}

std::size_t Connection::input_size() const {
  return bev_ != nullptr ? evbuffer_get_length(bufferevent_get_input(bev_)) : 0;
}

std::optional<std::string> Connection::read_line(std::size_t max, bool* too_long) {
  if (too_long != nullptr) *too_long = false;
  if (bev_ == nullptr) return std::nullopt;
  evbuffer* in = bufferevent_get_input(bev_);
  std::size_t eol_len = 0;
  evbuffer_ptr pos = evbuffer_search_eol(in, nullptr, &eol_len, EVBUFFER_EOL_LF);
  std::size_t available = evbuffer_get_length(in);
  if (pos.pos < 0) {
    if (available > max) {
      // No end of line within the limit: drop what we have; the rest of the
      // line is dropped as it arrives (it still has no LF before max).
      evbuffer_drain(in, available);
      if (too_long != nullptr) *too_long = true;
      update_read();
    }
    return std::nullopt;
  }
  auto len = static_cast<std::size_t>(pos.pos);
  if (len > max) {
    evbuffer_drain(in, len + eol_len);
    if (too_long != nullptr) *too_long = true;
    update_read();
    return std::nullopt;
  }
  std::string line(len, '\0');
  evbuffer_remove(in, line.data(), len);
  evbuffer_drain(in, eol_len);
  update_read();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string Connection::read_bytes(std::size_t n) {
  if (bev_ == nullptr) return {};
  evbuffer* in = bufferevent_get_input(bev_);
  n = std::min(n, evbuffer_get_length(in));
  std::string out(n, '\0');
  evbuffer_remove(in, out.data(), n);
  update_read();
  return out;
}

std::size_t Connection::forward_input_to(Connection& to) {
  return forward_input_to(to, input_size());
}

std::size_t Connection::forward_input_to(Connection& to, std::size_t max) {
  if (bev_ == nullptr) return 0;
  evbuffer* in = bufferevent_get_input(bev_);
  const std::size_t n = std::min(max, evbuffer_get_length(in));
  if (n == 0) return 0;
  if (to.bev_ == nullptr || to.closed_) {
    evbuffer_drain(in, n);
    update_read();
    return 0;
  }
  const bool all = n == evbuffer_get_length(in);
  std::size_t left = n;
  if (to.direct_ready()) {
    // evbuffer_write drains what the socket took; an error is left for the
    // bufferevent to meet on its own write.
    int sent =
        all ? evbuffer_write(in, bufferevent_getfd(to.bev_))
            : evbuffer_write_atmost(in, bufferevent_getfd(to.bev_), static_cast<ev_ssize_t>(n));
    if (sent > 0) left -= std::min(left, static_cast<std::size_t>(sent));
  }
  if (left > 0) {
    if (all) {
      to.queue_buffer(in);
    } else {
      to.queue_buffer(in, left);
    }
  }
  update_read();
  return n;
}

std::string_view Connection::peek_input() {
  if (bev_ == nullptr) return {};
  evbuffer* in = bufferevent_get_input(bev_);
  const std::size_t n = evbuffer_get_length(in);
  if (n == 0) return {};
  const unsigned char* p = evbuffer_pullup(in, -1);
  return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), n);
}

void Connection::unread(std::string_view bytes) {
  if (bev_ == nullptr || bytes.empty()) return;
  evbuffer_prepend(bufferevent_get_input(bev_), bytes.data(), bytes.size());
  update_read();
}

void Connection::drain_input(std::size_t n) {
  if (bev_ == nullptr) return;
  evbuffer_drain(bufferevent_get_input(bev_), n);
  update_read();
}

bool Connection::direct_ready() const {
  return options_.direct_write && bev_ != nullptr && !closed_ && !closing_ && !tls_ &&
         !handshaking_ && evbuffer_get_length(bufferevent_get_output(bev_)) == 0;
}

void Connection::write(std::string_view bytes) {
  if (bev_ == nullptr || closed_) return;
  if (direct_ready() && !bytes.empty()) {
    ssize_t n = ::send(bufferevent_getfd(bev_), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  if (!bytes.empty()) queue(bytes.data(), bytes.size());
}

bool Connection::write_file(int fd, off_t offset, std::size_t length) {
  if (bev_ == nullptr || closed_) {
    ::close(fd);
    return false;
  }
  arm_write();
  return evbuffer_add_file(bufferevent_get_output(bev_), fd, offset,
                           static_cast<ev_off_t>(length)) == 0;
}

std::size_t Connection::output_pending() const {
  if (bev_ == nullptr) return 0;
  std::size_t n = evbuffer_get_length(bufferevent_get_output(bev_));
  // After STARTTLS, bev_ is a TLS filter whose records wait in the plain
  // bufferevent underneath until the socket takes them.
  if (bufferevent* under = bufferevent_get_underlying(bev_)) {
    n += evbuffer_get_length(bufferevent_get_output(under));
  }
  return n;
}

bool Connection::start_tls(std::shared_ptr<TlsContext> tls, const std::string& server_name) {
  if (bev_ == nullptr || closed_ || tls_active_ || handshaking_) return false;
  // Plaintext that arrived after the STARTTLS command is discarded, never
  // interpreted as if it had come under TLS.
  evbuffer* in = bufferevent_get_input(bev_);
  evbuffer_drain(in, evbuffer_get_length(in));
  if (read_ev_) {
    // The TLS filter reads through the bufferevent from here on, and the
    // plain layer's timeouts bound the handshake (the filter's own start
    // only once it is done).
    event_del(read_ev_.get());
    read_ev_.reset();
    read_armed_ = false;
    timeval tv = to_timeval(options_.idle_timeout);
    bufferevent_set_timeouts(bev_, &tv, &tv);
    bufferevent_enable(bev_, EV_READ);
  }
  SslPtr ssl = tls->new_ssl(server_name);
  auto state = tls->is_server() ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING;
  // The plain layer underneath writes the TLS records: its write event is
  // armed for good from here (the filter manages it).
  arm_write();
  bufferevent* filtered =
      bufferevent_openssl_filter_new(loop_.base(), bev_, ssl.release(), state, kBevOptions);
  if (filtered == nullptr) return false;
  bev_ = filtered;  // owns the plain one now
  tls_ = std::move(tls);
  handshaking_ = true;
  setup_callbacks();
  return true;
}

std::string Connection::tls_description() const {
  if (!tls_active_ || bev_ == nullptr) return "";
  SSL* ssl = bufferevent_openssl_get_ssl(bev_);
  if (ssl == nullptr) return "";
  return fmt::format("{} {}", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

bool Connection::detachable() const {
  return bev_ != nullptr && !closed_ && !closing_ && !tls_ && !handshaking_ &&
         output_pending() == 0 && input_size() == 0;
}

int Connection::detach() {
  if (!detachable()) return -1;
  int fd = ::dup(bufferevent_getfd(bev_));
  if (fd < 0) return -1;
  closed_ = true;
  read_ev_.reset();
  read_armed_ = false;
  bufferevent_disable(bev_, EV_READ | EV_WRITE);
  bufferevent_setcb(bev_, nullptr, nullptr, nullptr, nullptr);
  bufferevent_free(bev_);  // closes the original descriptor, not the copy
  bev_ = nullptr;
  return fd;
}

void Connection::set_idle_timeout(std::chrono::milliseconds t) {
  options_.idle_timeout = t;
  if (bev_ == nullptr) return;
  timeval tv = to_timeval(t);
  if (read_ev_) {
    bufferevent_set_timeouts(bev_, nullptr, &tv);
    if (read_armed_) add_read_event();  // re-adding replaces the timeout
    return;
  }
  bufferevent_set_timeouts(bev_, &tv, &tv);
}

void Connection::set_output_low_water(std::size_t bytes) {
  options_.output_low_water = bytes;
  if (bev_ != nullptr) bufferevent_setwatermark(bev_, EV_WRITE, bytes, 0);
}

void Connection::pause_reading() {
  if (read_ev_) {
    want_read_ = false;
    return update_read();
  }
  if (bev_ != nullptr) bufferevent_disable(bev_, EV_READ);
}

void Connection::resume_reading() {
  if (read_ev_) {
    want_read_ = true;
    return update_read();
  }
  if (bev_ != nullptr && !closing_ && !closed_) bufferevent_enable(bev_, EV_READ);
}

void Connection::close_after_flush() {
  if (closed_ || closing_) return;
  closing_ = true;
  update_read();
  if (bev_ != nullptr) bufferevent_disable(bev_, EV_READ);
  if (output_pending() == 0) {
    // Not from inside the caller's own callback: on the next loop turn.
    bufferevent_trigger(bev_, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  }
}

void Connection::close() {
  finish(CloseReason::Local);
}

void Connection::finish(CloseReason reason) {
  if (closed_) return;
  closed_ = true;
  if (bev_ != nullptr && reason == CloseReason::PeerClosed && options_.reset_after_peer_close &&
      !tls_ && output_pending() == 0) {
    linger no_linger{1, 0};
    setsockopt(bufferevent_getfd(bev_), SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
  }
  read_ev_.reset();  // before the descriptor it watches
  read_armed_ = false;
  if (bev_ != nullptr) {
    bufferevent_disable(bev_, EV_READ | EV_WRITE);
    bufferevent_setcb(bev_, nullptr, nullptr, nullptr, nullptr);
    bufferevent_free(bev_);
    bev_ = nullptr;
  }
  if (handler_ != nullptr) handler_->on_closed(*this, reason);
}

void Connection::on_read(bufferevent*, void* self) noexcept {
  auto* c = static_cast<Connection*>(self);
  if (!c->closed_ && !c->closing_ && c->handler_ != nullptr) c->handler_->on_input(*c);
}

void Connection::on_write(bufferevent*, void* self) noexcept {
  auto* c = static_cast<Connection*>(self);
  if (c->closed_) return;
  if (c->closing_) {
    if (c->output_pending() == 0) {
      c->finish(CloseReason::Local);
    } else if (bufferevent* under = bufferevent_get_underlying(c->bev_);
               under != nullptr && !c->watching_underlying_) {
      // The filter's own buffer is empty but the socket has not taken the
      // last TLS records yet: come back here when it has.
      c->watching_underlying_ = true;
      evbuffer_add_cb(bufferevent_get_output(under), &Connection::on_underlying_output, c);
    }
    return;
  }
  if (c->handler_ != nullptr) c->handler_->on_output_drained(*c);
}

void Connection::on_underlying_output(evbuffer* buffer, const evbuffer_cb_info*,
                                      void* self) noexcept {
  auto* c = static_cast<Connection*>(self);
  if (c->closed_ || !c->closing_ || evbuffer_get_length(buffer) != 0) return;
  // Not from inside the buffer's callback: finish() frees that buffer.
  bufferevent_trigger(c->bev_, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void Connection::on_event(bufferevent*, short what, void* self) noexcept {
  auto* c = static_cast<Connection*>(self);
  if (c->closed_) return;
  if ((what & BEV_EVENT_CONNECTED) != 0) {
    if (c->handshaking_) {
      c->handshaking_ = false;
      c->tls_active_ = true;
      if (c->handler_ != nullptr) c->handler_->on_tls_ready(*c);
    }
    return;
  }
  if ((what & BEV_EVENT_EOF) != 0) {
    // A client may send its last command and close at once: serve what came.
    if (c->input_size() > 0 && !c->closing_ && c->handler_ != nullptr) c->handler_->on_input(*c);
    c->finish(CloseReason::PeerClosed);
  } else if ((what & BEV_EVENT_TIMEOUT) != 0) {
    c->finish(CloseReason::Timeout);
  } else if ((what & BEV_EVENT_ERROR) != 0) {
    // errno speaks for the socket only: after an OpenSSL failure it is
    // whatever was left over.
    if (int err = EVUTIL_SOCKET_ERROR(); err != 0 && c->tls_ == nullptr) {
      c->error_text_ = std::strerror(err);
    }
    bool tls_error = c->tls_ != nullptr && bufferevent_get_openssl_error(c->bev_) != 0;
    c->finish(tls_error || c->handshaking_ ? CloseReason::TlsError : CloseReason::Error);
  }
}

class PendingConnect {
 public:
  PendingConnect(EventLoop& loop, int fd, std::chrono::milliseconds timeout,
                 std::function<void(int, std::string)> done)
      : fd_(fd), done_(std::move(done)) {
    ev_.reset(event_new(loop.base(), fd, EV_WRITE, &PendingConnect::on_ready, this));
    timeval tv = to_timeval(timeout);
    event_add(ev_.get(), &tv);
  }
  PendingConnect(const PendingConnect&) = delete;
  PendingConnect& operator=(const PendingConnect&) = delete;
  ~PendingConnect() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  static void on_ready(int fd, short what, void* self) noexcept {
    auto* p = static_cast<PendingConnect*>(self);
    std::string error;
    if ((what & EV_TIMEOUT) != 0) {
      error = "connect timed out";
    } else {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) error = std::strerror(err);
    }
    int result = error.empty() ? p->fd_ : -1;
    if (error.empty()) p->fd_ = -1;  // handed over
    auto done = std::move(p->done_);
    done(result, error);  // may destroy *p
  }

  int fd_;
  std::function<void(int, std::string)> done_;
  EventPtr ev_;
};

int open_tcp(const Endpoint& to, std::string* error) {
  auto ip = IpAddress::parse(to.host);
  if (!ip) {
    *error = "not an IP address: " + to.host;
    return -1;
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (ip->v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(to.port);
    std::memcpy(&s6->sin6_addr, ip->bytes.data(), 16);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(to.port);
    std::memcpy(&s4->sin_addr, ip->bytes.data(), 4);
    len = sizeof *s4;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    *error = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

std::unique_ptr<PendingConnect> connect_tcp(EventLoop& loop, const Endpoint& to,
                                            std::chrono::milliseconds timeout,
                                            std::function<void(int, std::string)> done) {
  std::string error;
  int fd = open_tcp(to, &error);
  if (fd < 0) {
    loop.post([done = std::move(done), error = std::move(error)] { done(-1, error); });
    return nullptr;
  }
  return std::make_unique<PendingConnect>(loop, fd, timeout, std::move(done));
}

}  // namespace postern::core

void std::default_delete<postern::core::PendingConnect>::operator()(
    postern::core::PendingConnect* p) const noexcept {
  delete p;
}
