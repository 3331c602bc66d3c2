// The proxy's HTTP listener for WebMail (DESIGN.md section 5, issue 6): a
// reverse proxy that routes each request by the proxy's own routing cookie.
//
//   POST /api/login    the JSON body's "user" through the directory (lookup
//                      only: the node checks the password) → that node; a
//                      200 from the node gets Set-Cookie: postern_route=...
//   other /api/ ...    the cookie's node; no valid cookie: 401 here, the
//                      request never reaches a node
//   POST /api/logout   the cookie's node; the answer clears the cookie
//   pages, /static/    the cookie's node when valid and up, else any healthy
//                      node (every node serves the same interface)
//
// One session per client connection, requests one after the other
// (keep-alive; pipelined requests wait in the connection). Bodies stream both
// ways through core::http::BodyReader with bounded buffers: neither side is
// read while the other's output holds `proxy.buffer` bytes. The connection to
// a node is kept for the next request to the same node.
//
// Ownership as for ProxySession: the service holds sessions by shared_ptr,
// directory answers and connects hold a weak_ptr; `ended` runs once, after
// the client connection closed; the owner frees the session later.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/connection.hpp"
#include "core/event_loop.hpp"
#include "core/http_message.hpp"
#include "core/listener.hpp"
#include "core/metrics.hpp"
#include "core/session_registry.hpp"
#include "mapping/directory.hpp"
#include "proxy/http_routing.hpp"
#include "proxy/proxy_context.hpp"
#include "proxy/proxy_service.hpp"

namespace postern::proxy {

// The HTTP listener's own metrics (beside the shared per-protocol series).
class HttpProxyMetrics {
 public:
  explicit HttpProxyMetrics(core::MetricsRegistry& registry);
  core::Counter& requests(int status);               // by status class
  core::Counter& rejected(std::string_view reason);  // route cookies refused
  core::MetricsRegistry& registry;

 private:
  std::map<std::string, core::Counter*> by_class_;
  std::map<std::string, core::Counter*> rejected_;
};

class HttpProxySession final : public core::Connection::Handler,
                               public std::enable_shared_from_this<HttpProxySession> {
 public:
  using Ended = std::function<void(HttpProxySession*)>;

  HttpProxySession(ProxyContext& ctx, HttpProxyMetrics& metrics, core::EventLoop& loop,
                   core::Accepted accepted, Ended ended);
  HttpProxySession(const HttpProxySession&) = delete;
  HttpProxySession& operator=(const HttpProxySession&) = delete;
  ~HttpProxySession() override;

  void start();
  // The proxy stops: an idle connection closes now; a request in progress
  // finishes and the connection closes after its answer.
  void drain();
  void close(std::string_view reason);

  void on_input(core::Connection& c) noexcept override;
  void on_output_drained(core::Connection& c) noexcept override;
  void on_tls_ready(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

 private:
  enum class Phase {
    Idle,        // between requests: waiting for a head
    Head,        // a head is arriving (header_timeout)
    LoginBody,   // buffering POST /api/login's body
    Routing,     // the directory looks up the login's user
    Connecting,  // to the node (connect_timeout)
    Exchange,    // request body up, answer down
    Lingering,   // the last answer is out; the client's late bytes are dropped
    Closing,     // the last answer is flushing
  };

  // One request and its answer.
  struct Exchange {
    core::http::RequestHead head;
    http_routing::RequestKind kind = http_routing::RequestKind::Page;
    core::http::Framing request_framing;  // as sent to the node
    std::optional<core::http::BodyReader> request_body;
    std::uint64_t body_limit = 0;
    std::string login_body;  // POST /api/login's, whole (small, bounded)
    std::string login;       // its "user" as sent (the throttle's key)
    std::string node;
    std::string user;               // from the cookie or the directory
    std::string set_cookie;         // a Set-Cookie for the answer (logout, a refused cookie)
    bool set_cookie_on_ok = false;  // login: the routing cookie on a 200
    bool expects_continue = false;  // Expect: 100-continue (answered by us)
    bool continue_sent = false;
    bool request_done = false;  // the whole request went to the node
    bool replayable = false;    // GET or HEAD without a body: may be sent again
    bool reused = false;        // on a kept node connection
    bool node_gone = false;     // the node connection closed during the exchange
    core::CloseReason gone_reason = core::CloseReason::PeerClosed;
    std::optional<core::http::ResponseHead> response;  // once sent on to the client
    std::optional<core::http::BodyReader> response_body;
    bool chunk_to_client = false;
    bool node_reusable = false;
    bool close_after = false;  // the client connection ends after this answer
    int status = 0;
    std::uint64_t bytes_in = 0, bytes_out = 0;
    std::chrono::steady_clock::time_point started;
  };

  // Client side (http_proxy.cpp).
  void take_client_input();
  void used_client_input(std::size_t n);
  void read_requests();
  void on_header_timeout();
  void on_head(core::http::RequestHead head, std::size_t head_bytes);
  void send_continue();
  bool check_cookie(Exchange& x, bool api);
  bool node_has_http(std::string_view node) const;
  std::string healthy_node(std::string_view preferred) const;
  void read_login_body();
  void route_login();
  void on_login_route(const std::string& login, mapping::LookupResult r);
  void answer_login_refused();
  void node_answered_login(int status);
  void count_failed_login();
  void answer_locally(int status, std::string_view code, std::string_view message,
                      bool clear_cookie = false);
  void finish_exchange(std::string_view how);
  void close_client();
  void linger();
  void discard_client_input();
  void on_linger_timer();
  void finish_session(std::string reason);

  // Node side (http_proxy_upstream.cpp).
  void forward(const std::string& node);
  void connect(const std::string& node);
  void node_connected();
  void on_connect_timeout();
  void node_failed(std::string_view why, bool mark_down);
  void send_request();
  void pump_request_body();
  void take_node_input();
  void used_node_input(std::size_t n);
  void pump_response();
  bool read_response_head();
  void response_complete();
  void node_closed(core::CloseReason reason);
  void node_gone_before_answer();
  void bad_gateway(int status, std::string_view why);
  void abort_exchange(std::string_view why);
  void release_node();  // forget node_ (closed already or not), freed later
  void drop_node();     // close and forget node_, and any connect in progress

  bool secure() const { return listener_.implicit_tls; }
  const ProxyConfig& config() const { return *gen_->config; }

  ProxyContext& ctx_;
  HttpProxyMetrics& metrics_;
  core::EventLoop& loop_;
  const core::ListenerConfig& listener_;
  std::shared_ptr<const Generation> gen_;
  core::PeerAddress peer_;
  std::unique_ptr<core::FlowControl::Ticket> ticket_;
  Ended ended_;
  std::string sid_;
  Phase phase_ = Phase::Idle;
  std::unique_ptr<core::Connection> client_;
  // Client bytes taken from the connection and not used yet; reading pauses
  // at hold_ (a whole head must fit) and resumes below half.
  std::string pending_;
  std::size_t hold_ = 0;
  bool client_paused_ = false;
  std::unique_ptr<core::Connection> node_;
  std::string node_name_;  // the node node_ talks to
  std::string node_in_;    // the node's bytes not used yet; reading pauses at `buffer`
  bool node_paused_ = false;
  bool node_idle_ = false;  // node_ is kept between requests
  std::unique_ptr<core::PendingConnect> connecting_;
  std::optional<Exchange> x_;
  core::Timer header_timer_;
  core::Timer connect_timer_;
  core::Timer node_idle_timer_;
  core::Timer delay_timer_;  // a throttled login waits; a refused login's answer waits
  std::function<void()> after_delay_;
  core::Timer linger_timer_;
  std::chrono::steady_clock::time_point linger_until_;
  std::size_t lingered_ = 0;
  bool draining_ = false;
  bool closed_ = false;
  std::uint64_t requests_ = 0;
  int failed_logins_ = 0;  // on this client connection (errors.max_failed_logins)
  std::uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::string last_user_;
  std::chrono::steady_clock::time_point started_;
};

// The ProtocolService of "http" listeners.
class HttpProxyService final : public ProtocolService {
 public:
  explicit HttpProxyService(ProxyContext& ctx);
  void accept(core::EventLoop& loop, core::Accepted connection) override;
  std::string refusal(core::FlowVerdict verdict) const override;
  void drain(core::EventLoop& loop) override;
  void close_all(core::EventLoop& loop) override;
  std::size_t sessions() const override { return open_.load(); }

 private:
  ProxyContext& ctx_;
  HttpProxyMetrics metrics_;
  core::SessionRegistry<HttpProxySession> sessions_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace postern::proxy
