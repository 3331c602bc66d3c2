// The routing decisions of the HTTP proxy session: the routing cookie of
// API requests and pages, and the login's route through the directory.
#include <atomic>

#include "core/log.hpp"
#include "proxy/http_proxy.hpp"
#include "proxy/routing_cookie.hpp"

namespace postern::proxy {

namespace hr = http_routing;
using core::http::Framing;

bool HttpProxySession::check_cookie(Exchange& x, bool api) {
  auto value = core::http::cookie_value(x.head.headers, RoutingCookie::kName);
  std::string_view reason = "missing";
  if (value) {
    auto claims = config().http.cookie->verify(
        *value, unix_now(), [this](std::string_view node) { return node_has_http(node); });
    if (claims) {
      x.node = std::move(claims->node);
      x.user = std::move(claims->user);
      last_user_ = x.user;
      return true;
    }
    reason = route_rejection_name(claims.error());
    core::log_info("route_cookie_rejected")
        .kv("sid", sid_)
        .kv("client", peer_.to_string())
        .kv("reason", reason)
        .kv("path", x.head.path);
  }
  if (value || api) metrics_.rejected(reason).inc();
  if (!api) {
    if (value) x.set_cookie = hr::clear_route_cookie(secure());
    return false;
  }
  answer_locally(
      401, "auth",
      value ? "Your session is not valid any more. Please log in again." : "Please log in.", true);
  return false;
}

bool HttpProxySession::node_has_http(std::string_view node) const {
  auto it = config().nodes.find(std::string(node));
  return it != config().nodes.end() && it->second.services.count("http") != 0;
}

// Pages are the same on every node: the preferred one (the cookie's) when
// it is up, else the node we are connected to, else the next healthy one.
std::string HttpProxySession::healthy_node(std::string_view preferred) const {
  auto usable = [this](std::string_view n) { return node_has_http(n) && ctx_.health.is_up(n); };
  if (!preferred.empty() && usable(preferred)) return std::string(preferred);
  if (node_ && !node_->closed() && usable(node_name_)) return node_name_;
  std::vector<std::string> up;
  for (const auto& [name, ep] : config().nodes)
    if (usable(name)) up.push_back(name);
  if (up.empty()) return {};
  static std::atomic<std::size_t> next{0};
  return up[next.fetch_add(1, std::memory_order_relaxed) % up.size()];
}

void HttpProxySession::read_login_body() {
  if (phase_ != Phase::LoginBody) return;
  Exchange& x = *x_;
  while (!x.request_body->done()) {
    auto step = x.request_body->feed(pending_);
    if (!step) {
      x.close_after = true;
      return answer_locally(400, "bad_request", step.error().message);
    }
    // Judged before it is kept: a login body never grows past its limit.
    if (x.request_body->body_bytes() > x.body_limit) {
      x.close_after = true;
      return answer_locally(413, "too_large", "The request body is too large.");
    }
    for (auto d : step->data) x.login_body.append(d);
    x.bytes_in += step->consumed;
    used_client_input(step->consumed);
    if (step->consumed == 0) return;  // more to come
  }
  auto user = hr::login_user(x.login_body);
  if (!user) {
    return answer_locally(400, "bad_request",
                          "Expected a JSON object with \"user\" and \"password\".");
  }
  x.login = std::move(*user);
  x.request_framing = Framing{Framing::Length, x.login_body.size()};
  phase_ = Phase::Routing;
  // The edge throttle, as for IMAP, POP3 and SMTP (proxy_session.cpp): recent
  // failures from this address or for this login make the attempt wait
  // before anything is looked up or sent to a node.
  const auto delay = ctx_.throttle.delay(peer_.ip, x.login, std::chrono::steady_clock::now());
  if (delay.count() > 0) {
    core::log_info("login_delayed")
        .kv("sid", sid_)
        .kv("proto", "http")
        .kv("client", peer_.ip.to_string())
        .kv("delay_ms", delay.count());
    after_delay_ = [this] { route_login(); };
    delay_timer_.arm(delay);
    return;
  }
  route_login();
}

void HttpProxySession::route_login() {
  if (closed_ || phase_ != Phase::Routing || !x_) return;
  std::weak_ptr<HttpProxySession> weak = weak_from_this();
  gen_->directory->lookup(x_->login, loop_, [weak, login = x_->login](mapping::LookupResult r) {
    auto s = weak.lock();
    if (!s || s->closed_ || s->phase_ != Phase::Routing) return;
    s->on_login_route(login, std::move(r));
  });
}

void HttpProxySession::on_login_route(const std::string& login, mapping::LookupResult r) {
  Exchange& x = *x_;
  std::string_view result = "ok";
  if (r.status == mapping::LookupStatus::Found &&
      (r.account.state == mapping::AccountState::Disabled ||
       !r.account.service_enabled("webmail"))) {
    r.status = mapping::LookupStatus::NotFound;
    r.detail = "webmail disabled";
  }
  if (r.status == mapping::LookupStatus::NotFound) {
    result = "denied";
  } else if (r.status == mapping::LookupStatus::TempFail) {
    result = "tempfail";
  } else if (!node_has_http(r.account.node) || !ctx_.health.is_up(r.account.node)) {
    result = "unavailable";
    r.detail = "node " + r.account.node + " has no http endpoint here or is down";
  }
  // A routed login is counted when the node has judged the password
  // (node_answered_login): only the node knows it.
  if (result != "ok") ctx_.metrics.logins("http", result).inc();
  core::log_info("proxy_login")
      .kv("sid", sid_)
      .kv("proto", "http")
      .kv("user", login)
      .kv("node", r.account.node)
      .kv("client", peer_.to_string())
      .kv("result", result)
      .kv("detail", r.detail);
  if (result == "denied") {
    // The node's answer to a wrong password, byte for byte and after its
    // delay: no user enumeration. It counts as the node's refusal would.
    count_failed_login();
    after_delay_ = [this] { answer_login_refused(); };
    delay_timer_.arm(hr::kLoginRefusalDelay);
    return;
  }
  if (result != "ok") {
    return answer_locally(503, "unavailable",
                          "The mail service is not available right now. Please try again in a "
                          "minute.");
  }
  x.user = r.account.address;
  last_user_ = x.user;
  x.set_cookie_on_ok = true;
  forward(r.account.node);
}

void HttpProxySession::answer_login_refused() {
  if (closed_ || !x_) return;
  Exchange& x = *x_;
  const std::string text = hr::login_refused_response(x.close_after || draining_);
  x.status = 401;
  x.bytes_out += text.size();
  client_->write(text);
  finish_exchange("local");
}

// The node's answer to a login routed through us: only the node knows the
// password, so its 401 is a failed guess for the throttle (as a node's NO
// is for IMAP without verify_credentials) and its 200 clears the login.
void HttpProxySession::node_answered_login(int status) {
  Exchange& x = *x_;
  ctx_.metrics
      .logins("http", status == 200   ? "ok"
                      : status >= 500 ? "tempfail"
                      : status == 421 ? "unavailable"
                                      : "denied")
      .inc();
  if (status == 200) {
    ctx_.throttle.succeeded(x.login);
    return;
  }
  if (status != 401) return;
  core::log_info("proxy_node_refused")
      .kv("sid", sid_)
      .kv("proto", "http")
      .kv("user", x.login)
      .kv("node", x.node)
      .kv("client", peer_.to_string());
  count_failed_login();
}

// A failed login slows the next attempts from this address and for this
// login (the throttle), and enough of them on one connection end it after
// the answer, as for the other protocols.
void HttpProxySession::count_failed_login() {
  Exchange& x = *x_;
  ctx_.throttle.failed(peer_.ip, x.login, std::chrono::steady_clock::now());
  if (++failed_logins_ >= listener_.errors.max_failed_logins) x.close_after = true;
}

}  // namespace postern::proxy
