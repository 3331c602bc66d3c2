// One client (or upstream) connection over a libevent bufferevent, plain or
// TLS, with STARTTLS upgrade in place.
//
// Ownership: the session that handles a connection owns it. Handler callbacks
// run on the connection's loop and are noexcept. A handler may call close()
// from a callback, but must never destroy the Connection inside one of its
// callbacks: it schedules its own destruction with EventLoop::post (STYLE.md
// rule 9); after on_closed() no callback comes again.
//
// Memory is bounded: reading stops while the input buffer holds
// `max_input` bytes (the session consumes it to resume), and the session asks
// output_pending() / waits for on_output_drained() before writing more of a
// large stream.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/event_loop.hpp"
#include "core/handles.hpp"
#include "core/net_address.hpp"
#include "core/tls.hpp"

struct bufferevent;
struct evbuffer;
struct evbuffer_cb_info;

namespace postern::core {

enum class CloseReason { PeerClosed, Timeout, Error, TlsError, Local };
std::string_view close_reason_name(CloseReason r);

class Connection {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // New bytes are in input().
    virtual void on_input(Connection& c) noexcept = 0;
    // The output buffer fell to the low-water mark: a stream may write more.
    virtual void on_output_drained(Connection&) noexcept {}
    // The TLS handshake (implicit or after start_tls()) finished.
    virtual void on_tls_ready(Connection&) noexcept {}
    // Last call. The connection is closed (or closing after a flush failed).
    virtual void on_closed(Connection& c, CloseReason reason) noexcept = 0;
  };

  struct Options {
    std::size_t max_input = 256 * 1024;        // stop reading above this
    std::size_t output_low_water = 64 * 1024;  // on_output_drained() below this
    std::chrono::milliseconds idle_timeout{30 * 60 * 1000};
    // The descriptor is non-blocking already (accept4 / socket with
    // SOCK_NONBLOCK): spares two fcntl calls per connection.
    bool nonblocking = false;
    // Plain connections: write() and forward_input_to() send at once when
    // nothing is queued, and queue only what the socket did not take. Spares
    // the bufferevent's arming and disarming of the write event per reply.
    // A write that goes out whole then brings no on_output_drained(): only
    // for owners that wait for it only while output_pending() is not 0 (the
    // proxy). Such connections also read by themselves, one recv() per
    // readiness (the bufferevent asks FIONREAD before each read): the owner
    // then consumes input only through read_line(), read_bytes() and
    // forward_input_to(), never by draining input() itself.
    bool direct_write = false;
    // The socket has TCP_NODELAY already (accepted from a Listener, whose
    // socket passes it on): spares a setsockopt.
    bool nodelay_inherited = false;
    // When the peer closes first and nothing of ours is left to send, close
    // with a reset (SO_LINGER 0) instead of a FIN: the peer already said it
    // is done, and neither side then keeps a TIME_WAIT entry. For upstream
    // connections whose peer closes only at the end of a session (the proxy's
    // node connections), never for clients, which may half-close and still
    // read.
    bool reset_after_peer_close = false;
  };

  // Takes ownership of `fd`. With `tls` the handshake starts at once
  // (implicit TLS); `tls` decides the side (server or client).
  Connection(EventLoop& loop, int fd, PeerAddress peer, Options options, Handler* handler,
             std::shared_ptr<TlsContext> tls = nullptr, const std::string& server_name = "");
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  EventLoop& loop() const { return loop_; }
  const PeerAddress& peer() const { return peer_; }
  void set_handler(Handler* h) { handler_ = h; }

  evbuffer* input() const;
  std::size_t input_size() const;
  // One line without its CRLF (or LF), when a whole one is buffered. A line
  // longer than `max` is discarded through its LF and reported with
  // `*too_long = true` (and nullopt), so no peer can make us buffer it.
  std::optional<std::string> read_line(std::size_t max, bool* too_long);
  // Moves up to `n` bytes of input out.
  std::string read_bytes(std::size_t n);
  // The whole input as one contiguous view (valid until the input changes).
  std::string_view peek_input();
  // Drops the first `n` bytes of input.
  void drain_input(std::size_t n);
  // Puts `bytes` back in front of the input (read ahead by the owner).
  void unread(std::string_view bytes);

  void write(std::string_view bytes);
  // Moves every buffered input byte to `to`'s output without copying them
  // (the proxy's pump). Returns how many moved.
  std::size_t forward_input_to(Connection& to);
  // The same for the first `max` bytes only.
  std::size_t forward_input_to(Connection& to, std::size_t max);
  // Appends `length` bytes of `fd` from `offset` (sendfile when plain). Takes
  // ownership of `fd`.
  bool write_file(int fd, off_t offset, std::size_t length);
  std::size_t output_pending() const;

  // Starts TLS on the established connection (STARTTLS / STLS). Any input
  // already buffered is discarded first: bytes a client sent before the
  // handshake must not be read as if they came under TLS (CVE-2011-0411).
  bool start_tls(std::shared_ptr<TlsContext> tls, const std::string& server_name = "");
  bool tls_active() const { return tls_active_; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" for a plain connection.
  std::string tls_description() const;

  // Hands the socket over (as a new descriptor the caller owns) and closes
  // this connection without calling its handler: only a plain connection
  // with nothing buffered either way can be detached; otherwise -1 and the
  // connection is unchanged. The proxy's pump then splices the sockets.
  int detach();
  bool detachable() const;

  void set_idle_timeout(std::chrono::milliseconds t);
  // on_output_drained() comes when the output falls to `bytes` (0: empty).
  void set_output_low_water(std::size_t bytes);
  void pause_reading();
  void resume_reading();

  // Closes once everything written has been sent; then on_closed(Local).
  void close_after_flush();
  // Closes at once; on_closed(Local) is called before this returns.
  void close();
  bool closed() const { return closed_; }
  // The socket error that closed the connection (strerror text), or "".
  const std::string& error_text() const { return error_text_; }

 private:
  static void on_read(bufferevent*, void* self) noexcept;
  static void on_direct_read(int fd, short what, void* self) noexcept;
  // Direct reading: arms or disarms read_ev_ by the owner's wish, the input
  // limit and the connection's state.
  void update_read();
  void add_read_event();
  bool direct_read() const { return read_ev_ != nullptr; }
  static void on_write(bufferevent*, void* self) noexcept;
  static void on_event(bufferevent*, short what, void* self) noexcept;
  static void on_underlying_output(evbuffer* buffer, const evbuffer_cb_info* info,
                                   void* self) noexcept;
  void setup_callbacks();
  bool direct_ready() const;  // direct_write applies now
  // Queues `bytes` in the bufferevent's output, arming the write event first
  // when the plain direct-write mode left it off.
  void queue(const void* bytes, std::size_t n);
  void queue_buffer(evbuffer* from);
  void queue_buffer(evbuffer* from, std::size_t n);
  void arm_write();
  void finish(CloseReason reason);

  EventLoop& loop_;
  PeerAddress peer_;
  Options options_;
  Handler* handler_;
  bufferevent* bev_ = nullptr;
  std::shared_ptr<TlsContext> tls_;  // kept alive while SSL objects use it
  bool tls_active_ = false;
  bool handshaking_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool watching_underlying_ = false;  // closing: waiting for the plain layer to flush
  bool write_armed_ = false;          // EV_WRITE enabled on bev_
  EventPtr read_ev_;                  // direct reading (plain direct_write connections)
  bool want_read_ = true;             // not paused by the owner
  bool read_armed_ = false;           // read_ev_ added
  std::string error_text_;
};

// Connects to `to` without blocking the loop; the callback gets the
// connected socket, or -1 and an error text, on `loop`, within `timeout`.
// Returns a handle whose destruction cancels the attempt.
class PendingConnect;
// Starts connecting a non-blocking socket to `to` and returns it at once,
// still connecting; or -1 with `*error` set. A Connection made on it reads
// when the peer first speaks, and a refused or failed connect closes it with
// CloseReason::Error (error_text() says why). The caller bounds the wait with
// its own timer. For plain connections whose peer speaks first.
int open_tcp(const Endpoint& to, std::string* error);
std::unique_ptr<PendingConnect> connect_tcp(EventLoop& loop, const Endpoint& to,
                                            std::chrono::milliseconds timeout,
                                            std::function<void(int fd, std::string error)> done);

}  // namespace postern::core

// PendingConnect is complete only in connection.cpp; its deleter lives there
// too, so callers can hold (and drop) the handle connect_tcp returns.
template <>
struct std::default_delete<postern::core::PendingConnect> {
  void operator()(postern::core::PendingConnect* p) const noexcept;
};
