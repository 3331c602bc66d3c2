// Writing responses: whole, from a file, or streamed from the worker pool with
// back-pressure; then the request's log line and the next request.
#include <unistd.h>

#include <fmt/format.h>

#include "backend/webmail/http_connection.hpp"
#include "backend/webmail/webmail_context.hpp"
#include "core/log.hpp"

namespace postern::node::webmail {

void HttpConnection::write_head(Response& response, std::optional<std::uint64_t> body_length) {
  core::http::ResponseHead head;
  head.status = response.status;
  head.reason = std::string(core::http::reason_phrase(response.status));
  head.headers = std::move(response.headers);
  add_security_headers(head.headers);
  const bool bodiless = response.status == 204 || response.status == 304;
  if (!bodiless) {
    if (body_length) {
      head.headers.add("Content-Length", std::to_string(*body_length));
    } else if (head_.minor_version >= 1) {
      chunked_ = true;
      head.headers.add("Transfer-Encoding", "chunked");
    } else {
      keep_alive_ = false;  // HTTP/1.0: the body ends with the connection
    }
  }
  if (!keep_alive_) head.headers.add("Connection", "close");
  conn_->write(core::http::serialize(head));
}

void HttpConnection::respond(std::uint64_t id, Response response) {
  if (closed_ || id != request_id_ || phase_ != Phase::Handling) return;
  status_ = response.status;
  const bool bodiless = response.status == 204 || response.status == 304;
  std::string body = std::move(response.body);
  write_head(response, bodiless ? std::optional<std::uint64_t>() : body.size());
  if (!head_only_ && !bodiless) {
    conn_->write(body);
    bytes_out_ = body.size();
  }
  finish_request();
}

void HttpConnection::respond_later(std::uint64_t id, Response response,
                                   std::chrono::milliseconds delay) {
  if (closed_ || id != request_id_ || phase_ != Phase::Handling) return;
  delayed_ = std::move(response);
  delayed_id_ = id;
  delay_.arm(delay);
}

int HttpConnection::count_failed_login() {
  ++failed_logins_;
  if (failed_logins_ >= listener_.errors.max_failed_logins) keep_alive_ = false;
  return failed_logins_;
}

void HttpConnection::respond_file(std::uint64_t id, Response head, int fd, std::uint64_t offset,
                                  std::uint64_t length) {
  if (closed_ || id != request_id_ || phase_ != Phase::Handling) {
    ::close(fd);
    return;
  }
  status_ = head.status;
  write_head(head, length);
  if (head_only_ || length == 0) {
    ::close(fd);
  } else if (!conn_->write_file(fd, static_cast<off_t>(offset), length)) {
    core::log_warn("http_write_failed").kv("sid", sid_).kv("path", head_.path);
    conn_->close();
    return;
  } else {
    bytes_out_ = length;
  }
  finish_request();
}

void HttpConnection::respond_stream(std::uint64_t id, Response head,
                                    std::shared_ptr<BodyStream> body,
                                    std::optional<std::uint64_t> length) {
  if (closed_ || id != request_id_ || phase_ != Phase::Handling) return;
  status_ = head.status;
  chunked_ = false;
  write_head(head, length);
  if (head_only_) {
    chunked_ = false;
    finish_request();
    return;
  }
  stream_ = std::move(body);
  phase_ = Phase::Streaming;
  pump_stream();
}

void HttpConnection::pump_stream() {
  if (!stream_ || stream_reading_ || closed_) return;
  if (conn_->output_pending() >= kOutputHighWater) return;  // on_output_drained resumes
  stream_reading_ = true;
  struct Piece {
    std::string bytes;
    bool ok = false;
    bool done = false;
  };
  std::weak_ptr<HttpConnection> weak = weak_from_this();
  const std::uint64_t id = request_id_;
  const bool queued = ctx_.node.workers.run(
      [stream = stream_] {
        Piece p;
        p.ok = stream->next(p.bytes, kStreamPiece, p.done);
        return p;
      },
      loop_,
      [weak, id](Piece p) {
        auto self = weak.lock();
        if (!self || self->closed_ || self->request_id_ != id) return;
        self->on_stream_piece(std::move(p.bytes), p.ok, p.done);
      });
  if (!queued) {
    // The head is out: the only honest end is to close.
    core::log_warn("http_stream_busy").kv("sid", sid_).kv("path", head_.path);
    conn_->close();
  }
}

void HttpConnection::on_stream_piece(std::string bytes, bool ok, bool done) {
  stream_reading_ = false;
  if (!ok) {
    core::log_error("http_stream_failed").kv("sid", sid_).kv("path", head_.path);
    conn_->close();
    return;
  }
  if (!bytes.empty()) {
    if (chunked_) {
      conn_->write(fmt::format("{:x}\r\n", bytes.size()));
      conn_->write(bytes);
      conn_->write("\r\n");
    } else {
      conn_->write(bytes);
    }
    bytes_out_ += bytes.size();
  }
  if (done) {
    if (chunked_) conn_->write("0\r\n\r\n");
    chunked_ = false;
    stream_.reset();
    finish_request();
    return;
  }
  pump_stream();
}

void HttpConnection::finish_request() {
  log_request();
  if (!keep_alive_ || draining_) {
    phase_ = Phase::Closing;
    conn_->close_after_flush();
    return;
  }
  phase_ = Phase::Head;
  if (!in_input_) process_input();
}

void HttpConnection::log_request() {
  ctx_.metrics.request(status_);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started_)
                      .count();
  // Every request at debug; failures (and what a server error hides) at info.
  auto line = status_ >= 500   ? core::log_warn("http_request")
              : status_ >= 400 ? core::log_info("http_request")
                               : core::log_debug("http_request");
  line.kv("sid", sid_)
      .kv("client", client_)
      .kv("method", head_.method)
      .kv("path", head_.path)
      .kv("status", status_)
      .kv("user", log_user_)
      .kv("bytes", bytes_out_)
      .kv("ms", ms);
}

}  // namespace postern::node::webmail
