// One browser (or proxy) connection to the node's WebMail service: HTTP/1.1
// over core::Connection, plain or TLS.
//
// Requests are read one at a time: the head with core::http::parse_request_head,
// the body with a BodyReader into a bounded buffer (webmail.max_upload_size for
// multipart/form-data from a logged-in browser, kMaxJsonBody otherwise; more
// is answered 413 and the
// rest of the body read and dropped before the connection closes, so the
// client sees the answer). The whole request then goes to handle_request()
// (api_router.hpp); nothing more is read until its response is written, so
// pipelined requests are answered in order. Keep-alive per RFC 9112 9.3.
//
// Responses: respond() for a body held in memory; respond_file() for a byte
// range of a file (sendfile on plain connections); respond_stream() for a body
// produced piece by piece on the worker pool (a decoded attachment), with
// back-pressure: the next piece is made only once the output has drained below
// a high-water mark, so a slow reader never makes the node hold a big file.
//
// Ownership: the WebmailService owns connections through shared_ptr; handlers
// hold a weak_ptr and the request_id() of the request they answer, so an answer
// that comes after the connection closed, or for a request that is gone, does
// nothing. When the connection closes, `ended` is called once; the owner
// destroys the object later, never inside that call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "backend/webmail/http_response.hpp"
#include "core/connection.hpp"
#include "core/http_message.hpp"
#include "core/listener.hpp"

namespace postern::node::webmail {

struct WebmailContext;

// A request with its whole body.
struct Request {
  core::http::RequestHead head;
  std::string body;
  // The client for logs and the login: the TCP peer, or the last address of
  // X-Forwarded-For when the peer is one of the node's trusted_proxies.
  std::string client;
  // TLS to us, or "X-Forwarded-Proto: https" from a trusted proxy.
  bool secure = false;
  // From a trusted proxy only: the last X-Forwarded-For address ("" when
  // absent or malformed), and whether X-Forwarded-Proto was sent at all
  // (then the browser's hop, not ours, decides whether a password may pass).
  std::string forwarded_for;
  bool forwarded_proto = false;
};

// A response body made piece by piece on the worker pool.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // BLOCKING (a worker thread; one call at a time). Appends up to about `max`
  // bytes to `out` and sets `done` after the last. False on a read error.
  virtual bool next(std::string& out, std::size_t max, bool& done) = 0;
};

class HttpConnection final : public core::Connection::Handler,
                             public std::enable_shared_from_this<HttpConnection> {
 public:
  using Ended = std::function<void(HttpConnection*)>;

  // A JSON (or any non-multipart) request body may be this big.
  static constexpr std::size_t kMaxJsonBody = 1024 * 1024;
  // A client that pipelines requests without reading the answers stops being
  // read above this much unsent output; on_output_drained resumes.
  static constexpr std::size_t kOutputHighWater = 256 * 1024;
  // A streamed body is made in pieces of this size, the next one only when
  // the output holds less than kOutputHighWater.
  static constexpr std::size_t kStreamPiece = 64 * 1024;

  HttpConnection(WebmailContext& context, core::EventLoop& loop, core::Accepted accepted,
                 Ended ended);
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  ~HttpConnection() override;

  // Starts reading. Call once, after the shared_ptr exists.
  void start();
  // Finishes the request in progress (its response says Connection: close);
  // closes a connection between requests (or part way through a head) at
  // once. On its loop.
  void drain();
  // Closes now. On its loop.
  void close(std::string_view reason);

  // The request being handled; answers for another one are ignored.
  std::uint64_t request_id() const { return request_id_; }
  bool closed() const { return closed_; }
  core::EventLoop& loop() const { return loop_; }
  const std::string& sid() const { return sid_; }
  // Whether a password may be sent here. Directly: TLS, a loopback peer, or
  // the listener allows plaintext. Through a trusted proxy that sent
  // X-Forwarded-Proto: https, or http with a loopback forwarded client (or a
  // listener that allows plaintext).
  bool plaintext_login_allowed(const Request& request) const;
  // The user the request acted for, for its log line.
  void set_log_user(std::string user) { log_user_ = std::move(user); }

  void respond(std::uint64_t id, Response response);
  // Answers after `delay` (a failed login), if the connection is still there.
  void respond_later(std::uint64_t id, Response response, std::chrono::milliseconds delay);
  // A failed login on this connection; past the listener's
  // errors.max_failed_logins the response closes it. Returns the count.
  int count_failed_login();
  // Serves [offset, offset + length) of `fd` (taken over) as the body.
  void respond_file(std::uint64_t id, Response head, int fd, std::uint64_t offset,
                    std::uint64_t length);
  // `length`: the body's size when known (Content-Length); else chunked.
  void respond_stream(std::uint64_t id, Response head, std::shared_ptr<BodyStream> body,
                      std::optional<std::uint64_t> length = std::nullopt);

  void on_input(core::Connection& c) noexcept override;
  void on_output_drained(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

 private:
  enum class Phase { Head, Body, Handling, Streaming, Discarding, Closing };

  // Reading requests (http_connection.cpp).
  void process_input();
  bool read_head();  // false: wait for more input (or the connection is done)
  bool read_body();
  bool discard_body();
  void start_request(core::http::RequestHead head);
  void dispatch();
  void reject(int status, std::string_view message);  // answers and closes
  void too_large();
  // Writing responses (http_connection_reply.cpp).
  // Writes the head of `response` (whose body is `body_length` bytes, or
  // chunked / close-delimited when nullopt).
  void write_head(Response& response, std::optional<std::uint64_t> body_length);
  void finish_request();
  void pump_stream();
  void on_stream_piece(std::string bytes, bool ok, bool done);
  void log_request();

  WebmailContext& ctx_;
  core::EventLoop& loop_;
  const core::ListenerConfig& listener_;
  std::unique_ptr<core::FlowControl::Ticket> ticket_;
  Ended ended_;
  std::unique_ptr<core::Connection> conn_;
  std::string sid_;
  core::PeerAddress peer_;
  bool trusted_peer_ = false;  // in trusted_proxies: X-Forwarded-* count

  Phase phase_ = Phase::Head;
  bool in_input_ = false;  // process_input() is on the stack
  bool closed_ = false;
  bool draining_ = false;
  std::uint64_t requests_ = 0;
  int failed_logins_ = 0;
  core::Timer delay_;
  Response delayed_;
  std::uint64_t delayed_id_ = 0;

  // The request in progress.
  std::uint64_t request_id_ = 0;
  core::http::RequestHead head_;
  std::optional<core::http::BodyReader> body_reader_;
  std::string body_;
  std::uint64_t body_limit_ = 0;
  std::uint64_t discard_left_ = 0;
  bool keep_alive_ = true;
  bool head_only_ = false;  // HEAD: no body goes out
  std::string client_;
  std::string forwarded_for_;
  bool forwarded_proto_ = false;
  bool secure_ = false;
  std::chrono::steady_clock::time_point started_;
  std::string log_user_;
  int status_ = 0;
  std::uint64_t bytes_out_ = 0;

  // A streamed body.
  std::shared_ptr<BodyStream> stream_;
  bool stream_reading_ = false;
  bool chunked_ = false;
};

}  // namespace postern::node::webmail
