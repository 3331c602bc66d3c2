// What every proxy session shares (STYLE.md rules 3 and 5): the client
// connection, the login checks at the edge, routing, the connection to the
// node, and the hand-off to the Pump. Each protocol (imap_proxy, pop3_proxy,
// smtp_proxy) adds only its dialogue through the hooks below.
//
// Phase 1 is an explicit state machine (enter_state() logs every change):
//
//   Login ──(credentials or first RCPT)──▶ Checking ──▶ Connecting ──▶ Handshake
//     ▲                                        │             │             │
//     └────────── a refusal, a temporary failure ───────────┘             ▼
//                                                                      Pumping ──▶ Closed
//
// While the session talks to the directory or the node it acts on nothing
// more from the client: bytes the client pipelined stay in its input buffer
// (bounded: the connection stops reading at max_input) and go to the node,
// in order, when the pump starts.
//
// Ownership: the ProxyService owns sessions through shared_ptr; directory
// answers, connects and timers hold a weak_ptr (or are cancelled by the
// destructor), so nothing arrives after the session is gone. When both
// connections are closed the session calls `ended` once; the owner destroys
// it on a later turn of the loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/connection.hpp"
#include "core/event_loop.hpp"
#include "core/listener.hpp"
#include "core/secret.hpp"
#include "proxy/proxy_context.hpp"
#include "proxy/pump.hpp"

namespace postern::proxy {

class ProxySession : public core::Connection::Handler,
                     public std::enable_shared_from_this<ProxySession> {
 public:
  using Ended = std::function<void(ProxySession*)>;
  enum class State { Login, Checking, Connecting, Handshake, Pumping, Closed };

  // `proto` names the session in logs and metrics ("imap", "pop3", "smtp",
  // "submission"); `service` is the node endpoint it is handed to (the same
  // names).
  ProxySession(ProxyContext& ctx, core::EventLoop& loop, core::Accepted accepted, std::string proto,
               Ended ended);
  ProxySession(const ProxySession&) = delete;
  ProxySession& operator=(const ProxySession&) = delete;
  ~ProxySession() override;

  // Sends the greeting (implicit TLS: after the handshake). Once, after the
  // shared_ptr exists.
  void start();
  // The proxy stops: a session still in phase 1 says goodbye and ends; a
  // pumped one goes on until the drain deadline (close()).
  void drain();
  // Closes both sides now.
  void close(std::string_view reason);

  // core::Connection::Handler, for the client and (phase 1) the node.
  void on_input(core::Connection& c) noexcept override;
  void on_tls_ready(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

 protected:
  // ---- the protocol's dialogue ----
  virtual void greet() = 0;
  // The client sent bytes (state Login). Read them from client_input().
  virtual void on_client_input() = 0;
  // The client's STARTTLS finished.
  virtual void on_client_tls() {}
  // The node's TCP connection (and implicit TLS) is up: expect its greeting.
  virtual void on_node_connected() = 0;
  // A kept node connection (greeting long past) was taken from the pool
  // instead of connecting: go on as after the greeting, sending `pending`
  // (NodePool::Kept) first; its success is the greeting (node_greeted()),
  // anything else replace_kept_node().
  virtual void on_node_reused(std::string /*pending*/) {}
  // The protocol keeps node connections (connect_node() may take one).
  virtual bool reuses_node_connections() const { return false; }
  // How the pump hands the node connection back at the session's end
  // (null: it closes with the session). Called once, by start_pump().
  virtual std::unique_ptr<Handback> make_handback() { return nullptr; }
  // The node sent bytes (state Handshake). Read them from node().
  virtual void on_node_input() = 0;
  // The hop's STARTTLS finished.
  virtual void on_node_tls() {}
  // The node is down, slow or said something unexpected before the hand-off:
  // tell the client the protocol's temporary failure. The node connection is
  // already gone; the session is back in Login (or the protocol closes it).
  virtual void node_failed(std::string_view why) = 0;
  // A goodbye before closing in phase 1 ("* BYE ...", "-ERR ...", "421 ...").
  virtual std::string goodbye(std::string_view why) const = 0;

  // ---- shared services ----
  enum class Verdict {
    Ok,          // `account` is set and its node has an endpoint for this service
    Denied,      // wrong login or password, or not allowed this service
    TempFail,    // the directory did not answer (and nothing cached)
    Unavailable  // the account's node is down or unknown to this proxy
  };
  struct Decision {
    Verdict verdict = Verdict::TempFail;
    mapping::Account account;
    std::string detail;  // for the log only
  };
  // The login at the edge: the failed-login delay for this address and login,
  // then the directory (authenticate when proxy.verify_credentials, else a
  // lookup), the account's service and its node's health. Counts failures
  // (the throttle, the session's max_failed_logins) and logins by result.
  // `done` runs on the session's loop, never after the session is gone.
  void check_login(std::string user, core::Secret password, std::string_view service,
                   std::function<void(Decision)> done);
  // Where a recipient lives (SMTP without AUTH).
  void lookup_address(std::string address, std::function<void(mapping::LookupResult)> done);
  // Connects to `node`'s endpoint for `service_`, within connect_timeout
  // (TLS included when the hop uses implicit TLS) → on_node_connected(), or
  // node_failed() and the node is marked down.
  void connect_node(const std::string& node);
  bool hop_starttls() const;  // the hop to node_name_ upgrades with STARTTLS
  void start_node_tls();      // the hop's STARTTLS, after the node said yes
  // The node sent its greeting: from here its slowness is the login
  // timeout's business and never marks the node down.
  void node_greeted();
  // The node answered the login: the session is the user's now.
  void node_ready();
  // The node refused the replayed login (without verify_credentials, the
  // only check): counts as a failed login. True when the session must end.
  bool node_refused_login();
  // Phase 2: the pump takes both connections. Bytes the client already sent
  // (still in its input buffer) go to the node first.
  void start_pump();
  // The node connection failed during Handshake: drop it, mark the node down
  // when `down`, and tell the client (node_failed()).
  void fail_node(std::string_view why, bool down);
  void drop_node();

  // Hands each complete line the node sent (without CRLF) to `handle`
  // while the session is in Handshake and `handle` returns true. A line
  // longer than `max` (or than the connection's input limit) fails the
  // hand-off.
  void read_node_lines(std::size_t max, const std::function<bool(const std::string&)>& handle);

  // Where this session's node connections are kept, and under which key
  // (the node and the configuration generation).
  NodePool& node_pool();
  std::string node_pool_key() const;
  bool draining() const { return ctx_.draining.load(std::memory_order_relaxed); }
  // A released node connection (Handback::released): kept in the pool for
  // the configured time, unless the proxy is draining.
  void keep_node(std::unique_ptr<core::Connection> c, std::string pending);
  // The kept connection this attempt took is no good (closed before it
  // answered, or its pending command failed): on a later turn, drop it and
  // connect afresh; the login is sent again.
  void replace_kept_node();
  bool node_reused() const { return node_reused_; }

  void send(std::string_view bytes);
  void send_node(std::string_view bytes);
  // Says goodbye(why) and closes after the flush.
  void end(std::string_view why);
  // Closes after the flush, without a goodbye (the protocol already said its
  // own: LOGOUT, QUIT).
  void quit(std::string_view reason);
  // A syntax error or unknown command: true when the session must end now
  // (errors.max_bad_commands); the caller has not replied yet.
  bool bad_command();
  // The session's failed logins reached errors.max_failed_logins.
  bool too_many_failures() const;
  bool plaintext_allowed() const;  // TLS, loopback, or the listener allows it
  bool starttls_offered() const { return listener_.starttls_available() && !client_->tls_active(); }
  void start_client_tls();  // after replying yes to STARTTLS / STLS

  void enter_state(State next);
  State state() const { return state_; }
  core::Connection& client() { return *client_; }
  core::Connection& node() { return *node_; }
  const core::ListenerConfig& listener() const { return listener_; }
  const ProxyConfig& config() const { return *gen_->config; }
  const core::PeerAddress& peer() const { return peer_; }
  const std::string& sid() const { return sid_; }
  const std::string& proto() const { return proto_; }
  const std::string& node_name() const { return node_name_; }
  core::EventLoop& loop() { return loop_; }

  std::string user_;       // as the directory knows it, once known
  std::string node_name_;  // once routed
  std::string service_;    // the node endpoint used

 private:
  void on_login_timeout();
  void stop_waiting();  // end(), quit(): no timer or directory answer acts any more
  bool live() const { return !closed_ && state_ != State::Closed; }
  // Applies the account's service, state and node health to a directory
  // answer; counts and logs the result.
  void decide(const std::string& user, const std::string& service, Decision& d);
  void finish(std::string reason);
  // A fresh TCP connection to the node (the pool had none, or a kept one died).
  void open_node(const NodeEndpoints& ep);

  ProxyContext& ctx_;
  core::EventLoop& loop_;
  const core::ListenerConfig& listener_;
  std::shared_ptr<const Generation> gen_;
  core::PeerAddress peer_;
  std::optional<core::PeerAddress> via_;  // the load balancer, after a PROXY header
  std::unique_ptr<core::FlowControl::Ticket> ticket_;
  Ended ended_;
  std::string proto_;
  std::string sid_;
  State state_ = State::Login;
  std::unique_ptr<core::Connection> client_;
  std::unique_ptr<core::Connection> node_;
  std::unique_ptr<core::PendingConnect> connecting_;
  std::unique_ptr<Pump> pump_;
  core::Timer login_timer_;
  core::Timer connect_timer_;
  core::Timer wait_timer_;  // the failed-login delay
  std::function<void()> after_wait_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  bool spliced_ = false;
  int bad_commands_ = 0;
  int failed_logins_ = 0;
  bool greeted_ = false;
  bool node_greeted_ = false;   // the node connection of this attempt sent its greeting
  bool node_reused_ = false;    // this attempt's node connection came from the pool
  bool node_answered_ = false;  // ...and the node said something on it
  bool closed_ = false;
  std::string end_reason_;
  std::string login_for_throttle_;  // the login as the client gave it
  std::chrono::steady_clock::time_point started_;
};

}  // namespace postern::proxy
