// The node side of the HTTP proxy session: the connection to the node (kept
// for the next request to the same node), the request body up and the
// answer down, both streamed with bounded buffers.
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.hpp"
#include "proxy/http_proxy.hpp"
#include "proxy/routing_cookie.hpp"

namespace postern::proxy {

namespace hr = http_routing;
using core::http::Framing;

namespace {

constexpr std::string_view kUnavailable =
    "The mail server is not available right now. Please try again in a minute.";

// A kept node connection is closed before the node's own idle timeout is
// likely to, so a reused one is rarely found closed.
constexpr std::chrono::milliseconds kMaxNodeIdle{15'000};

}  // namespace

void HttpProxySession::forward(const std::string& node) {
  Exchange& x = *x_;
  x.node = node;
  if (!ctx_.health.is_up(node)) {
    core::log_info("proxy_node_down").kv("sid", sid_).kv("proto", "http").kv("node", node);
    return answer_locally(503, "unavailable", kUnavailable);
  }
  // A login never goes on a kept connection: if the node closed that one
  // just as the request came, it could not be sent again (not a safe
  // method), and a login is rare enough to afford its own connect.
  if (node_ && node_idle_ && node_name_ == node && !node_->closed() &&
      x.kind != hr::RequestKind::Login) {
    node_idle_ = false;
    node_idle_timer_.cancel();
    x.reused = true;
    phase_ = Phase::Exchange;
    return send_request();
  }
  drop_node();
  connect(node);
}

void HttpProxySession::connect(const std::string& node) {
  phase_ = Phase::Connecting;
  node_name_ = node;
  const NodeEndpoints* ep = &config().nodes.at(node);
  const core::Endpoint to = ep->services.at("http");
  connect_timer_.arm(config().connect_timeout);
  std::weak_ptr<HttpProxySession> weak = weak_from_this();
  connecting_ = core::connect_tcp(
      loop_, to, config().connect_timeout, [this, weak, to, ep](int fd, std::string error) {
        auto s = weak.lock();
        if (!s || closed_ || phase_ != Phase::Connecting) {
          if (fd >= 0) ::close(fd);
          return;
        }
        connecting_.reset();
        if (fd < 0) return node_failed("connect to " + to.to_string() + ": " + error, true);
        core::PeerAddress addr;
        if (auto ip = core::IpAddress::parse(to.host)) addr.ip = *ip;
        addr.port = to.port;
        // HTTP has no STARTTLS: the hop is TLS only when the node's mode is
        // implicit (its https listener).
        const bool tls = ep->tls_mode == NodeEndpoints::TlsMode::Implicit;
        node_in_.clear();
        node_paused_ = false;
        node_ = std::make_unique<core::Connection>(
            loop_, fd, addr, connection_options(config().buffer, listener_.idle_timeout), this,
            tls ? ep->tls : nullptr, ep->server_name);
        if (node_->closed()) return node_failed("could not set up the node connection", true);
        if (!tls) node_connected();
      });
}

void HttpProxySession::node_connected() {
  connect_timer_.cancel();
  ctx_.health.report_success(node_name_);
  phase_ = Phase::Exchange;
  send_request();
}

void HttpProxySession::on_connect_timeout() {
  if (closed_ || phase_ != Phase::Connecting) return;
  node_failed("the node did not answer in time", true);
}

void HttpProxySession::node_failed(std::string_view why, bool mark_down) {
  if (!x_) return drop_node();
  if (mark_down) ctx_.health.report_failure(x_->node, why);
  bad_gateway(503, why);
}

void HttpProxySession::send_request() {
  Exchange& x = *x_;
  const auto head = hr::upstream_request(
      x.head, x.request_framing,
      {peer_.ip.to_string(), secure(), config().nodes.at(x.node).services.at("http").to_string()});
  node_->write(core::http::serialize(head));
  if (x.kind == hr::RequestKind::Login) {
    node_->write(x.login_body);
    x.request_done = true;
  } else if (x.request_body->done()) {
    x.request_done = true;
  } else {
    send_continue();
    pump_request_body();
  }
}

void HttpProxySession::pump_request_body() {
  if (phase_ != Phase::Exchange || !x_) return;
  Exchange& x = *x_;
  const bool chunked = x.request_framing.kind == Framing::Chunked;
  while (!x.request_done) {
    // An early answer (or a node gone) stops the upload: the client
    // connection ends after the answer.
    if (!node_ || x.response) return;
    if (node_->output_pending() >= config().buffer) return;  // on_output_drained resumes
    auto step = x.request_body->feed(pending_);
    if (!step) {
      drop_node();
      return answer_locally(400, "bad_request", step.error().message);
    }
    for (auto d : step->data) {
      if (chunked) node_->write(fmt::format("{:x}\r\n", d.size()));
      node_->write(d);
      if (chunked) node_->write("\r\n");
    }
    x.bytes_in += step->consumed;
    used_client_input(step->consumed);
    if (x.request_body->body_bytes() > x.body_limit) {
      drop_node();
      return answer_locally(413, "too_large", "The request body is too large.");
    }
    if (x.request_body->done()) {
      if (chunked) node_->write("0\r\n\r\n");
      x.request_done = true;
    } else if (step->consumed == 0) {
      return;  // on_input resumes
    }
  }
}

void HttpProxySession::take_node_input() {
  if (!node_ || node_->closed()) return;
  if (const std::size_t n = node_->input_size(); n > 0) node_in_ += node_->read_bytes(n);
  if (node_in_.size() >= config().buffer && !node_paused_) {
    node_paused_ = true;
    node_->pause_reading();
  }
}

void HttpProxySession::used_node_input(std::size_t n) {
  node_in_.erase(0, n);
  if (node_paused_ && node_ && node_in_.size() < config().buffer / 2) {
    node_paused_ = false;
    node_->resume_reading();
  }
}

void HttpProxySession::pump_response() {
  if (phase_ != Phase::Exchange || !x_) return;
  Exchange& x = *x_;
  for (;;) {
    if (!x.response) {
      if (!read_response_head()) return;
      continue;
    }
    if (x.response_body->done()) return response_complete();
    if (client_->output_pending() >= config().buffer) return;  // on_output_drained resumes
    auto step = x.response_body->feed(node_in_);
    if (!step) return abort_exchange("a malformed body from the node: " + step.error().message);
    for (auto d : step->data) {
      if (x.chunk_to_client) {
        const std::string size = fmt::format("{:x}\r\n", d.size());
        client_->write(size);
        client_->write(d);
        client_->write("\r\n");
        x.bytes_out += size.size() + d.size() + 2;
      } else {
        client_->write(d);
        x.bytes_out += d.size();
      }
    }
    used_node_input(step->consumed);
    if (x.response_body->done()) continue;
    if (step->consumed == 0 || node_in_.empty()) {
      if (!x.node_gone) return;  // on_input resumes
      if (!node_in_.empty()) return abort_exchange("the node closed the connection mid-answer");
      x.response_body->end_of_input();  // ends an until-close body, not the others
      if (!x.response_body->done())
        return abort_exchange("the node closed the connection mid-answer");
    }
  }
}

// Reads the node's answer head and sends the client its version of it.
// False when it is not complete yet or the exchange ended.
bool HttpProxySession::read_response_head() {
  Exchange& x = *x_;
  core::http::Limits limits;
  limits.max_head = config().buffer - 1;  // what fits while the node is paused
  limits.max_fields = 256;
  for (;;) {
    auto parsed = core::http::parse_response_head(node_in_, limits);
    if (!parsed) {
      bad_gateway(502, "an unreadable answer from the node: " + parsed.error().message);
      return false;
    }
    if (!*parsed) {
      if (x.node_gone) node_gone_before_answer();
      return false;
    }
    core::http::ResponseHead head = std::move((*parsed)->head);
    used_node_input((*parsed)->consumed);
    if (head.status == 101) {
      bad_gateway(502, "the node switched protocols");
      return false;
    }
    if (head.status < 200) continue;  // 1xx: we asked for none (Expect is ours)
    auto framing = core::http::response_framing(head, x.head.method);
    if (!framing) {
      bad_gateway(502, "an unreadable answer from the node: " + framing.error().message);
      return false;
    }
    x.status = head.status;
    x.response_body.emplace(*framing);
    const bool open_ended =
        framing->kind == Framing::Chunked || framing->kind == Framing::UntilClose;
    x.chunk_to_client = open_ended && x.head.minor_version >= 1;
    if (open_ended && !x.chunk_to_client) x.close_after = true;  // HTTP/1.0: until close
    x.node_reusable = head.keep_alive() && framing->kind != Framing::UntilClose;
    if (!x.request_done) {
      // An early answer: the rest of the upload is not read.
      x.close_after = true;
      x.node_reusable = false;
    }
    if (x.kind == hr::RequestKind::Login) node_answered_login(head.status);
    auto out = hr::client_response(head, x.chunk_to_client, x.close_after || draining_,
                                   x.head.minor_version);
    if (x.set_cookie_on_ok) {
      if (head.status == 200) {
        const RouteClaims claims{x.node, x.user, unix_now() + config().http.cookie_ttl.count()};
        out.headers.add("Set-Cookie",
                        hr::route_cookie(config().http.cookie->issue(claims), secure()));
      }
    } else if (!x.set_cookie.empty()) {
      out.headers.add("Set-Cookie", x.set_cookie);
    }
    const std::string text = core::http::serialize(out);
    client_->write(text);
    x.bytes_out += text.size();
    x.response = std::move(head);
    return true;
  }
}

void HttpProxySession::response_complete() {
  Exchange& x = *x_;
  if (x.chunk_to_client) {
    client_->write("0\r\n\r\n");
    x.bytes_out += 5;
  }
  if (x.node_reusable && node_ && !x.node_gone && node_in_.empty() && !draining_ &&
      !x.close_after) {
    node_idle_ = true;
    node_idle_timer_.arm(std::min(config().http.keepalive_timeout, kMaxNodeIdle));
  } else {
    drop_node();
  }
  finish_exchange("node");
}

void HttpProxySession::node_closed(core::CloseReason reason) {
  release_node();
  if (node_idle_) {
    node_idle_ = false;
    node_idle_timer_.cancel();
    node_in_.clear();
    return;
  }
  if (closed_ || !x_) return;
  if (phase_ == Phase::Connecting) {
    return node_failed(
        fmt::format("the node connection failed ({})", core::close_reason_name(reason)), true);
  }
  if (phase_ != Phase::Exchange) return;
  x_->node_gone = true;
  x_->gone_reason = reason;
  pump_response();
}

// The node closed (or timed out) with no complete answer.
void HttpProxySession::node_gone_before_answer() {
  Exchange& x = *x_;
  // A kept connection the node closed just before our request came: one
  // more try on a new connection, when the request can be sent again: GET
  // or HEAD only (RFC 9110 9.2.2). Whether the node read a POST before it
  // closed is unknowable here; the client decides whether to try again.
  if (x.reused && x.replayable && node_in_.empty() &&
      x.gone_reason == core::CloseReason::PeerClosed) {
    x.reused = false;
    x.node_gone = false;
    x.request_done = false;
    return connect(x.node);
  }
  if (x.gone_reason == core::CloseReason::Timeout)
    return bad_gateway(504, "the node did not answer in time");
  bad_gateway(502, fmt::format("the node closed the connection before answering ({})",
                               core::close_reason_name(x.gone_reason)));
}

void HttpProxySession::bad_gateway(int status, std::string_view why) {
  drop_node();
  core::log_warn("proxy_node_failed")
      .kv("sid", sid_)
      .kv("proto", "http")
      .kv("user", x_->user)
      .kv("node", x_->node)
      .kv("reason", why);
  answer_locally(status, "unavailable", kUnavailable);
}

// The answer has begun: the client can only see it cut short.
void HttpProxySession::abort_exchange(std::string_view why) {
  core::log_warn("proxy_node_failed")
      .kv("sid", sid_)
      .kv("proto", "http")
      .kv("user", x_->user)
      .kv("node", x_->node)
      .kv("reason", why);
  drop_node();
  close_client();
}

void HttpProxySession::release_node() {
  if (!node_) return;
  node_->set_handler(nullptr);
  // Freed on a later turn: we may be inside one of its callbacks.
  loop_.post([gone = std::shared_ptr<core::Connection>(std::move(node_))] {});
  node_paused_ = false;
}

void HttpProxySession::drop_node() {
  connecting_.reset();
  connect_timer_.cancel();
  node_idle_timer_.cancel();
  node_idle_ = false;
  node_in_.clear();
  if (node_) {
    node_->set_handler(nullptr);
    node_->close();
  }
  release_node();
}

}  // namespace postern::proxy
