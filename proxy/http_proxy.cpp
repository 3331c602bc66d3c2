// The client side of the HTTP proxy session: requests, routing, the proxy's
// own answers, and the service. The node side is http_proxy_upstream.cpp.
#include "proxy/http_proxy.hpp"

#include <atomic>

#include <fmt/format.h>

#include "core/log.hpp"
#include "proxy/routing_cookie.hpp"

namespace postern::proxy {

namespace hr = http_routing;
using core::http::Framing;

namespace {

// Lingering close (linger()): quiet time, and the bounds on time and bytes.
constexpr std::chrono::milliseconds kLingerQuiet{200};
constexpr std::chrono::milliseconds kLingerMax{2'000};
constexpr std::size_t kLingerMaxBytes = 4 * 1024 * 1024;

std::string next_session_id() {
  static std::atomic<std::uint64_t> next{1};
  return fmt::format("h{:x}", next.fetch_add(1, std::memory_order_relaxed));
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

// ---- the session: client side ----

HttpProxySession::HttpProxySession(ProxyContext& ctx, HttpProxyMetrics& metrics,
                                   core::EventLoop& loop, core::Accepted accepted, Ended ended)
    : ctx_(ctx),
      metrics_(metrics),
      loop_(loop),
      listener_(*accepted.listener),
      gen_(ctx.current()),
      peer_(accepted.peer),
      ticket_(std::move(accepted.ticket)),
      ended_(std::move(ended)),
      sid_(next_session_id()),
      header_timer_(loop, [this] { on_header_timeout(); }),
      connect_timer_(loop, [this] { on_connect_timeout(); }),
      node_idle_timer_(loop, [this] { drop_node(); }),
      delay_timer_(loop,
                   [this] {
                     auto next = std::move(after_delay_);
                     if (next) next();
                   }),
      linger_timer_(loop, [this] { on_linger_timer(); }) {
  hold_ = std::max(config().buffer, config().http.max_header_size + 1);
  client_ = std::make_unique<core::Connection>(
      loop, accepted.fd, accepted.peer,
      connection_options(config().buffer, config().http.keepalive_timeout), this,
      listener_.implicit_tls ? listener_.tls : nullptr);
}

HttpProxySession::~HttpProxySession() {
  if (client_) client_->set_handler(nullptr);
  if (node_) node_->set_handler(nullptr);
}

void HttpProxySession::start() {
  started_ = std::chrono::steady_clock::now();
  ctx_.metrics.active("http").add(1);
  ctx_.metrics.sessions("http").inc();
  if (client_->closed()) return finish_session("client_error");
  if (ctx_.draining) close_client();
}

void HttpProxySession::drain() {
  draining_ = true;
  if (phase_ == Phase::Idle && pending_.empty() && !closed_) close_client();
}

void HttpProxySession::close(std::string_view reason) {
  if (closed_) return;
  drop_node();
  if (client_ && !client_->closed()) {
    client_->set_handler(nullptr);
    client_->close();
  }
  finish_session(std::string(reason));
}

void HttpProxySession::on_input(core::Connection& c) noexcept {
  if (closed_) return;
  if (&c == client_.get()) {
    take_client_input();
    switch (phase_) {
      case Phase::Idle:
      case Phase::Head:
        return read_requests();
      case Phase::LoginBody:
        return read_login_body();
      case Phase::Exchange:
        return pump_request_body();
      case Phase::Lingering:
        return discard_client_input();
      default:
        return;  // pipelined: it waits, bounded by hold_
    }
  }
  if (&c == node_.get()) {
    take_node_input();
    if (node_idle_) return drop_node();  // a kept connection has nothing to say
    if (phase_ == Phase::Exchange) pump_response();
  }
}

void HttpProxySession::on_output_drained(core::Connection& c) noexcept {
  if (closed_ || phase_ != Phase::Exchange) return;
  if (&c == node_.get()) pump_request_body();
  if (&c == client_.get()) pump_response();
}

void HttpProxySession::on_tls_ready(core::Connection& c) noexcept {
  if (closed_) return;
  if (&c == node_.get() && phase_ == Phase::Connecting) node_connected();
}

void HttpProxySession::on_closed(core::Connection& c, core::CloseReason reason) noexcept {
  if (&c == client_.get()) {
    finish_session(fmt::format("client_{}", core::close_reason_name(reason)));
  } else if (&c == node_.get()) {
    node_closed(reason);
  }
}

void HttpProxySession::take_client_input() {
  if (!client_ || client_->closed()) return;
  if (const std::size_t n = client_->input_size(); n > 0) pending_ += client_->read_bytes(n);
  if (pending_.size() >= hold_ && !client_paused_) {
    client_paused_ = true;
    client_->pause_reading();
  }
}

void HttpProxySession::used_client_input(std::size_t n) {
  pending_.erase(0, n);
  if (client_paused_ && pending_.size() < hold_ / 2) {
    client_paused_ = false;
    client_->resume_reading();
  }
}

void HttpProxySession::read_requests() {
  if (phase_ != Phase::Idle && phase_ != Phase::Head) return;
  if (pending_.empty()) return;
  if (phase_ == Phase::Idle) {
    phase_ = Phase::Head;
    header_timer_.arm(config().http.header_timeout);
    client_->set_idle_timeout(listener_.idle_timeout);
  }
  core::http::Limits limits;
  limits.max_head = config().http.max_header_size;
  limits.max_target = std::min(limits.max_target, limits.max_head);
  auto parsed = core::http::parse_request_head(pending_, limits);
  if (!parsed) {
    header_timer_.cancel();
    x_.emplace();
    x_->started = std::chrono::steady_clock::now();
    x_->close_after = true;
    const auto& e = parsed.error();
    return answer_locally(
        e.status, e.status == 431 || e.status == 414 ? "too_large" : "bad_request", e.message);
  }
  if (!*parsed) return;
  header_timer_.cancel();
  const std::size_t used = (*parsed)->consumed;
  core::http::RequestHead head = std::move((*parsed)->head);
  used_client_input(used);
  on_head(std::move(head), used);
}

void HttpProxySession::on_header_timeout() {
  if (closed_ || phase_ != Phase::Head) return;
  x_.emplace();
  x_->started = std::chrono::steady_clock::now();
  x_->close_after = true;
  answer_locally(408, "timeout", "The request took too long to arrive.");
}

void HttpProxySession::on_head(core::http::RequestHead head, std::size_t head_bytes) {
  x_.emplace();
  Exchange& x = *x_;
  x.started = std::chrono::steady_clock::now();
  x.bytes_in = head_bytes;
  x.head = std::move(head);
  x.kind = hr::classify(x.head);
  ++requests_;
  x.close_after = !x.head.keep_alive() || draining_;
  if (!hr::routing_path(x.head.path)) {
    x.close_after = true;
    return answer_locally(400, "bad_request", "Malformed path.");
  }
  auto framing = core::http::request_framing(x.head);
  if (!framing) {
    x.close_after = true;
    return answer_locally(framing.error().status, "bad_request", framing.error().message);
  }
  x.request_framing = *framing;
  x.request_body.emplace(*framing);
  // Only a safe method may go to the node twice (RFC 9110 9.2.2): a POST
  // the node may have acted on before it closed is not ours to repeat.
  x.replayable =
      framing->kind == Framing::None && (x.head.method == "GET" || x.head.method == "HEAD");
  const bool api = x.kind != hr::RequestKind::Page;
  if (x.kind == hr::RequestKind::Login) {
    x.body_limit = std::min<std::uint64_t>(hr::kMaxLoginBody, config().http.max_body_size);
  } else {
    x.body_limit =
        api && hr::is_upload(x.head) ? config().http.max_upload_size : config().http.max_body_size;
  }
  if (framing->kind == Framing::Length && framing->length > x.body_limit) {
    x.close_after = true;  // the body is not read
    return answer_locally(413, "too_large", "The request body is too large.");
  }
  if (const std::string* expect = x.head.headers.get("expect")) {
    if (!iequals(*expect, "100-continue")) {
      x.close_after = true;
      return answer_locally(417, "bad_request", "Unsupported Expect.");
    }
    x.expects_continue = x.head.minor_version >= 1;
  }
  switch (x.kind) {
    case hr::RequestKind::Login:
      phase_ = Phase::LoginBody;
      send_continue();
      return read_login_body();
    case hr::RequestKind::Logout:
    case hr::RequestKind::Api:
      if (!check_cookie(x, true)) return;
      if (x.kind == hr::RequestKind::Logout) x.set_cookie = hr::clear_route_cookie(secure());
      return forward(x.node);
    case hr::RequestKind::Page: {
      check_cookie(x, false);
      const std::string node = healthy_node(x.node);
      if (node.empty()) {
        return answer_locally(503, "unavailable",
                              "The mail service is not available right now. Please try again "
                              "in a minute.");
      }
      return forward(node);
    }
  }
}

void HttpProxySession::send_continue() {
  Exchange& x = *x_;
  if (!x.expects_continue || x.continue_sent) return;
  x.continue_sent = true;
  client_->write("HTTP/1.1 100 Continue\r\n\r\n");
}

// A valid cookie sets x.node and x.user. Under /api/ a missing or refused
// cookie is answered here (401, cookie cleared) and never reaches a node;
// for pages it only clears the cookie in the node's answer.
void HttpProxySession::answer_locally(int status, std::string_view code, std::string_view message,
                                      bool clear_cookie) {
  Exchange& x = *x_;
  // A body the client still sends is not read: the connection ends after.
  if (!x.request_body || !x.request_body->done()) x.close_after = true;
  const bool json = x.kind != hr::RequestKind::Page && !x.head.path.empty();
  std::string cookie;
  if (clear_cookie)
    cookie = hr::clear_route_cookie(secure());
  else if (!x.set_cookie_on_ok)
    cookie = x.set_cookie;
  const std::string text =
      hr::local_response(status, json, code, message, x.close_after || draining_, cookie);
  x.status = status;
  x.bytes_out += text.size();
  client_->write(text);
  finish_exchange("local");
}

void HttpProxySession::finish_exchange(std::string_view how) {
  Exchange& x = *x_;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - x.started);
  metrics_.requests(x.status).inc();
  ctx_.metrics.bytes("http", "in").inc(x.bytes_in);
  ctx_.metrics.bytes("http", "out").inc(x.bytes_out);
  bytes_in_ += x.bytes_in;
  bytes_out_ += x.bytes_out;
  core::log_info("http_request")
      .kv("sid", sid_)
      .kv("method", x.head.method)
      .kv("path", x.head.path)
      .kv("status", x.status)
      .kv("user", x.user)
      .kv("node", how == "local" ? std::string() : x.node)
      .kv("client", peer_.to_string())
      .kv("bytes_in", x.bytes_in)
      .kv("bytes_out", x.bytes_out)
      .kv("duration_ms", ms.count())
      .kv("by", how);
  const bool close = x.close_after || draining_;
  const bool unread = !x.request_body || !x.request_body->done() || !pending_.empty();
  x_.reset();
  if (close) {
    drop_node();
    return unread ? linger() : close_client();
  }
  phase_ = Phase::Idle;
  client_->set_idle_timeout(config().http.keepalive_timeout);
  // The next request may be here already; start it on a later turn, so a
  // pipelining client cannot make this stack deeper.
  if (!pending_.empty()) {
    loop_.post([weak = weak_from_this()] {
      if (auto s = weak.lock(); s && !s->closed_) s->read_requests();
    });
  }
}

void HttpProxySession::close_client() {
  phase_ = Phase::Closing;
  client_->close_after_flush();
}

// Closing a socket with unread input makes the kernel reset the
// connection, and the client may lose the answer it has not read yet (a 413
// while it still uploads). So the answer goes out, and what the client still
// sends is read and dropped until it has been quiet a moment (bounded in
// time and bytes), and only then the connection closes.
void HttpProxySession::linger() {
  phase_ = Phase::Lingering;
  pending_.clear();
  lingered_ = 0;
  linger_until_ = std::chrono::steady_clock::now() + kLingerMax;
  if (client_paused_) {
    client_paused_ = false;
    client_->resume_reading();
  }
  linger_timer_.arm(kLingerQuiet);
}

void HttpProxySession::discard_client_input() {
  lingered_ += pending_.size();
  pending_.clear();
  if (lingered_ > kLingerMaxBytes) return close_client();
  if (std::chrono::steady_clock::now() < linger_until_) linger_timer_.arm(kLingerQuiet);
}

void HttpProxySession::on_linger_timer() {
  if (closed_ || phase_ != Phase::Lingering) return;
  // The answer must be out first (within the time bound).
  if (client_->output_pending() > 0 && std::chrono::steady_clock::now() < linger_until_)
    return linger_timer_.arm(kLingerQuiet);
  close_client();
}

void HttpProxySession::finish_session(std::string reason) {
  if (closed_) return;
  closed_ = true;
  phase_ = Phase::Closing;
  header_timer_.cancel();
  delay_timer_.cancel();
  linger_timer_.cancel();
  after_delay_ = nullptr;
  drop_node();
  if (x_) {
    // Cut short: still one line for the request.
    core::log_info("http_request")
        .kv("sid", sid_)
        .kv("method", x_->head.method)
        .kv("path", x_->head.path)
        .kv("status", x_->status)
        .kv("user", x_->user)
        .kv("node", x_->node)
        .kv("bytes_in", x_->bytes_in)
        .kv("bytes_out", x_->bytes_out)
        .kv("by", "aborted");
    bytes_in_ += x_->bytes_in;
    bytes_out_ += x_->bytes_out;
    x_.reset();
  }
  ctx_.metrics.active("http").add(-1);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  core::log_info("session_end")
      .kv("sid", sid_)
      .kv("proto", "http")
      .kv("user", last_user_)
      .kv("client", peer_.to_string())
      .kv("requests", requests_)
      .kv("bytes_in", bytes_in_)
      .kv("bytes_out", bytes_out_)
      .kv("duration_ms", ms.count())
      .kv("reason", reason);
  if (ended_) ended_(this);
}

}  // namespace postern::proxy
