#include "backend/webmail/http_connection.hpp"

#include <event2/buffer.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "backend/node/login_check.hpp"
#include "backend/webmail/api_router.hpp"
#include "backend/webmail/webmail_context.hpp"
#include "core/log.hpp"

namespace postern::node::webmail {

namespace {

// Body bytes taken from the input per round.
constexpr std::size_t kBodyFeed = 64 * 1024;
// After a 413 the rest of the body is read and dropped (so the client reads
// the answer instead of a reset), but no more than this.
constexpr std::uint64_t kMaxDiscard = 64ull * 1024 * 1024;

std::string next_session_id() {
  static std::atomic<std::uint64_t> next{1};
  return fmt::format("w{:x}", next.fetch_add(1, std::memory_order_relaxed));
}

core::Connection::Options connection_options(const core::ListenerConfig& l) {
  core::Connection::Options o;
  o.idle_timeout = l.idle_timeout;
  o.output_low_water = HttpConnection::kOutputHighWater / 2;
  return o;
}

bool is_multipart(const core::http::RequestHead& head) {
  const std::string* type = head.headers.get("Content-Type");
  if (type == nullptr) return false;
  std::string lower = type->substr(0, 20);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return lower.starts_with("multipart/form-data");
}

// The last entry of a comma-separated X-Forwarded-For: the one our proxy added.
std::string last_forwarded(std::string_view value) {
  const auto comma = value.rfind(',');
  std::string_view last = comma == std::string_view::npos ? value : value.substr(comma + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  if (!core::IpAddress::parse(last)) return {};
  return std::string(last);
}

}  // namespace

HttpConnection::HttpConnection(WebmailContext& context, core::EventLoop& loop,
                               core::Accepted accepted, Ended ended)
    : ctx_(context),
      loop_(loop),
      listener_(*accepted.listener),
      ticket_(std::move(accepted.ticket)),
      ended_(std::move(ended)),
      sid_(next_session_id()),
      peer_(accepted.peer),
      delay_(loop,
             [this] {
               // The timer dies with the connection, so `this` is alive here.
               respond(delayed_id_, std::move(delayed_));
             }),
      client_(accepted.peer.ip.to_string()) {
  ++ctx_.open_connections;
  ctx_.metrics.sessions().add(1);
  ctx_.metrics.connection();
  trusted_peer_ = ctx_.node.config.trusted_proxies.contains(peer_.ip);
  conn_ = std::make_unique<core::Connection>(loop, accepted.fd, accepted.peer,
                                             connection_options(listener_), this,
                                             listener_.implicit_tls ? listener_.tls : nullptr);
  core::log_debug("http_connect")
      .kv("sid", sid_)
      .kv("client", peer_.to_string())
      .kv("listener", listener_.name);
}

HttpConnection::~HttpConnection() {
  if (!closed_) {
    conn_->set_handler(nullptr);
    closed_ = true;
    --ctx_.open_connections;
    ctx_.metrics.sessions().add(-1);
  }
}

void HttpConnection::start() {
  if (conn_->closed()) {
    on_closed(*conn_, core::CloseReason::Error);
    return;
  }
  if (ctx_.node.draining) draining_ = true;
  process_input();
}

void HttpConnection::drain() {
  draining_ = true;
  if (phase_ != Phase::Streaming) keep_alive_ = false;  // the next answer says so
  // Between requests (or in the middle of a head, which may never end): the
  // client will open a new connection for its next request.
  if (phase_ == Phase::Head && !closed_) {
    phase_ = Phase::Closing;
    conn_->close_after_flush();
  }
}

void HttpConnection::close(std::string_view reason) {
  if (closed_) return;
  core::log_debug("http_close").kv("sid", sid_).kv("reason", reason);
  conn_->close();
}

bool HttpConnection::plaintext_login_allowed(const Request& request) const {
  if (request.secure) return true;
  if (request.forwarded_proto) {
    // A trusted proxy speaks for the browser: the hop that matters is the
    // browser's, not the proxy's loopback connection to us.
    if (listener_.allow_plaintext_auth) return true;
    const auto ip = core::IpAddress::parse(request.forwarded_for);
    return ip && core::PeerAddress{*ip, 0}.is_loopback();
  }
  return node::plaintext_login_allowed(*conn_, listener_);
}

void HttpConnection::on_input(core::Connection&) noexcept {
  process_input();
}

void HttpConnection::on_output_drained(core::Connection&) noexcept {
  if (closed_) return;
  if (phase_ == Phase::Streaming) {
    pump_stream();
  } else {
    process_input();
  }
}

void HttpConnection::process_input() {
  if (in_input_ || closed_) return;
  in_input_ = true;
  bool more = true;
  while (more && !closed_) {
    switch (phase_) {
      case Phase::Head:
        more = read_head();
        break;
      case Phase::Body:
        more = read_body();
        break;
      case Phase::Discarding:
        more = discard_body();
        break;
      default:
        more = false;
        break;
    }
  }
  in_input_ = false;
}

bool HttpConnection::read_head() {
  if (conn_->output_pending() >= kOutputHighWater) return false;  // on_output_drained resumes
  evbuffer* in = conn_->input();
  const std::size_t available = in != nullptr ? evbuffer_get_length(in) : 0;
  if (available == 0) {
    if (draining_) {
      phase_ = Phase::Closing;
      conn_->close_after_flush();
    }
    return false;
  }
  const core::http::Limits limits;
  // One byte past the limit, so that the parser can tell "too long" from "not yet".
  const std::size_t n = std::min(available, limits.max_head + 1);
  const auto* data = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(n)));
  auto parsed = core::http::parse_request_head(std::string_view(data, n), limits);
  if (!parsed) {
    started_ = std::chrono::steady_clock::now();
    head_ = {};
    reject(parsed.error().status, parsed.error().message);
    return false;
  }
  if (!*parsed) {
    if (n > limits.max_head) {
      started_ = std::chrono::steady_clock::now();
      head_ = {};
      reject(431, "request head too large");
    }
    return false;
  }
  evbuffer_drain(in, (*parsed)->consumed);
  start_request(std::move((*parsed)->head));
  return true;
}

void HttpConnection::start_request(core::http::RequestHead head) {
  ++request_id_;
  ++requests_;
  started_ = std::chrono::steady_clock::now();
  head_ = std::move(head);
  body_.clear();
  log_user_.clear();
  status_ = 0;
  bytes_out_ = 0;
  head_only_ = head_.method == "HEAD";
  keep_alive_ = head_.keep_alive() && !draining_;
  client_ = peer_.ip.to_string();
  forwarded_for_.clear();
  forwarded_proto_ = false;
  secure_ = conn_->tls_active();
  if (trusted_peer_) {
    if (const std::string* xff = head_.headers.get("X-Forwarded-For")) {
      forwarded_for_ = last_forwarded(*xff);
      if (!forwarded_for_.empty()) client_ = forwarded_for_;
    }
    if (const std::string* proto = head_.headers.get("X-Forwarded-Proto")) {
      forwarded_proto_ = true;
      if (*proto == "https") secure_ = true;
    }
  }
  auto framing = core::http::request_framing(head_);
  if (!framing) {
    reject(framing.error().status, framing.error().message);
    return;
  }
  body_limit_ = kMaxJsonBody;
  if (is_multipart(head_)) {
    // Uploads may be big, so only for a logged-in browser: without a live
    // session the small limit applies (and the router answers 401).
    auto token = core::http::cookie_value(head_.headers, kSessionCookie);
    if (token && !token->empty() && ctx_.sessions.find(*token)) {
      body_limit_ = ctx_.config.max_upload_size;
    }
  }
  body_reader_.emplace(*framing);
  if (framing->kind == core::http::Framing::None ||
      (framing->kind == core::http::Framing::Length && framing->length == 0)) {
    dispatch();
    return;
  }
  if (framing->kind == core::http::Framing::Length && framing->length > body_limit_) {
    too_large();
    return;
  }
  if (head_.minor_version >= 1 && head_.headers.has_token("Expect", "100-continue")) {
    conn_->write("HTTP/1.1 100 Continue\r\n\r\n");
  }
  phase_ = Phase::Body;
}

bool HttpConnection::read_body() {
  evbuffer* in = conn_->input();
  const std::size_t available = in != nullptr ? evbuffer_get_length(in) : 0;
  if (available == 0) return false;
  const std::size_t n = std::min(available, kBodyFeed);
  const auto* data = reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(n)));
  auto step = body_reader_->feed(std::string_view(data, n));
  if (!step) {
    reject(step.error().status, step.error().message);  // answers and closes
    return false;
  }
  // Part of a chunk-size line (or trailer): nothing to take until more
  // arrives; calling again on the same bytes would spin the loop.
  if (step->consumed == 0 && !body_reader_->done()) return false;
  std::uint64_t size = body_.size();
  for (auto piece : step->data) size += piece.size();
  if (size > body_limit_) {
    // Counted before copying: the buffer never grows past the limit.
    evbuffer_drain(in, step->consumed);
    too_large();
    return true;
  }
  for (auto piece : step->data) body_.append(piece);
  evbuffer_drain(in, step->consumed);
  if (body_reader_->done()) {
    dispatch();
    return true;
  }
  return true;
}

void HttpConnection::too_large() {
  const std::uint64_t seen = body_reader_ ? body_reader_->body_bytes() : 0;
  body_.clear();
  body_.shrink_to_fit();
  keep_alive_ = false;
  Response r =
      error_response(413, "too_large",
                     fmt::format("The request is larger than the limit of {} bytes", body_limit_));
  status_ = r.status;
  write_head(r, r.body.size());
  if (!head_only_) conn_->write(r.body);
  bytes_out_ = r.body.size();
  log_request();
  if (seen == 0 && head_.headers.has_token("Expect", "100-continue")) {
    // The client waits for a 100 before sending the body: it never comes.
    phase_ = Phase::Closing;
    conn_->close_after_flush();
    return;
  }
  discard_left_ = kMaxDiscard > seen ? kMaxDiscard - seen : 0;
  phase_ = Phase::Discarding;
}

bool HttpConnection::discard_body() {
  evbuffer* in = conn_->input();
  const std::size_t available = in != nullptr ? evbuffer_get_length(in) : 0;
  if (body_reader_ && !body_reader_->done() && available > 0) {
    const std::size_t n = std::min(available, kBodyFeed);
    const auto* data =
        reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(n)));
    auto step = body_reader_->feed(std::string_view(data, n));
    if (!step) {
      // The 413 is already written: a broken body ends the connection.
      phase_ = Phase::Closing;
      conn_->close_after_flush();
      return false;
    }
    const std::size_t used = step->consumed;
    evbuffer_drain(in, used);
    discard_left_ = used >= discard_left_ ? 0 : discard_left_ - used;
    if (!body_reader_->done() && discard_left_ > 0) return used > 0;  // 0: wait for more
  } else if (available > 0) {
    evbuffer_drain(in, available);
  }
  if ((body_reader_ && body_reader_->done()) || discard_left_ == 0 || !body_reader_) {
    phase_ = Phase::Closing;
    conn_->close_after_flush();
  }
  return false;
}

void HttpConnection::dispatch() {
  phase_ = Phase::Handling;
  body_reader_.reset();
  Request request;
  request.head = head_;
  request.body = std::move(body_);
  body_.clear();
  request.client = client_;
  request.forwarded_for = forwarded_for_;
  request.forwarded_proto = forwarded_proto_;
  request.secure = secure_;
  handle_request(ctx_, shared_from_this(), std::move(request));
}

void HttpConnection::reject(int status, std::string_view message) {
  keep_alive_ = false;
  if (phase_ == Phase::Head) head_only_ = false;  // no request head to go by
  phase_ = Phase::Handling;
  Response r = error_response(status, error_code(status), message);
  respond(request_id_, std::move(r));
}

void HttpConnection::on_closed(core::Connection&, core::CloseReason reason) noexcept {
  if (closed_) return;
  closed_ = true;
  delay_.cancel();
  if (phase_ == Phase::Handling || phase_ == Phase::Streaming) {
    core::log_debug("http_aborted")
        .kv("sid", sid_)
        .kv("path", head_.path)
        .kv("reason", core::close_reason_name(reason));
  }
  stream_.reset();
  --ctx_.open_connections;
  ctx_.metrics.sessions().add(-1);
  core::log_debug("http_disconnect")
      .kv("sid", sid_)
      .kv("requests", requests_)
      .kv("reason", core::close_reason_name(reason));
  if (ended_) ended_(this);
}

}  // namespace postern::node::webmail
