#include "proxy/proxy_session.hpp"

#include <atomic>

#include <fmt/format.h>

#include "core/log.hpp"

namespace postern::proxy {

namespace {

constexpr std::string_view kStateNames[] = {"login",     "checking", "connecting",
                                            "handshake", "pumping",  "closed"};

std::string_view state_name(ProxySession::State s) {
  return kStateNames[static_cast<int>(s)];
}

std::string next_session_id() {
  // Unique per process and readable; the proxy name in the logs tells
  // proxies apart.
  static std::atomic<std::uint64_t> next{1};
  return fmt::format("x{:x}", next.fetch_add(1, std::memory_order_relaxed));
}

std::string close_reason(bool client, core::CloseReason r) {
  return fmt::format("{}_{}", client ? "client" : "node", core::close_reason_name(r));
}

}  // namespace

core::Connection::Options connection_options(std::size_t buffer, std::chrono::milliseconds idle) {
  core::Connection::Options o;
  o.max_input = buffer;
  o.output_low_water = buffer / 2;
  o.idle_timeout = idle;
  o.nonblocking = true;
  o.direct_write = true;
  return o;
}

ProxySession::ProxySession(ProxyContext& ctx, core::EventLoop& loop, core::Accepted accepted,
                           std::string proto, Ended ended)
    : ctx_(ctx),
      loop_(loop),
      listener_(*accepted.listener),
      gen_(ctx.current()),
      peer_(accepted.peer),
      via_(accepted.via),
      ticket_(std::move(accepted.ticket)),
      ended_(std::move(ended)),
      proto_(std::move(proto)),
      sid_(next_session_id()),
      login_timer_(loop, [this] { on_login_timeout(); }),
      connect_timer_(loop, [this] { fail_node("the node did not greet in time", true); }),
      wait_timer_(loop, [this] {
        auto next = std::move(after_wait_);
        if (next) next();
      }) {
  service_ = proto_;
  core::Connection::Options client_options =
      connection_options(gen_->config->buffer, listener_.idle_timeout);
  client_options.nodelay_inherited = true;  // from the Listener's socket
  client_ =
      std::make_unique<core::Connection>(loop, accepted.fd, accepted.peer, client_options, this,
                                         listener_.implicit_tls ? listener_.tls : nullptr);
  // Debug only: the login and session_end lines carry the same facts, and
  // a proxy's busiest path is a short session.
  auto log = core::log_debug("session_start");
  log.kv("sid", sid_)
      .kv("proto", proto_)
      .kv("listener", listener_.name)
      .kv("client", peer_.to_string());
  if (accepted.via) log.kv("via", accepted.via->to_string());
}

ProxySession::~ProxySession() {
  // Callbacks of connections closed from here must not reach a half-gone
  // session.
  if (client_) client_->set_handler(nullptr);
  if (node_) node_->set_handler(nullptr);
}

void ProxySession::start() {
  started_ = std::chrono::steady_clock::now();
  ctx_.metrics.active(proto_).add(1);
  ctx_.metrics.sessions(proto_).inc();
  login_timer_.arm(gen_->config->login_timeout);
  if (client_->closed()) return finish("client_error");
  if (ctx_.draining) {
    // Admitted after the drain began (a PROXY header still on its way).
    greeted_ = true;
    return end("shutting down");
  }
  if (!listener_.implicit_tls) {
    greeted_ = true;
    greet();
  }
}

void ProxySession::enter_state(State next) {
  // Closed is terminal: a late directory answer or connect must not revive
  // a session that already said goodbye.
  if (next == state_ || state_ == State::Closed) return;
  core::log_debug("proxy_state")
      .kv("sid", sid_)
      .kv("from", state_name(state_))
      .kv("to", state_name(next));
  const State before = state_;
  state_ = next;
  if (!client_) return;
  // While the session checks a login or talks to the node, what the client
  // sends is not looked at: it waits in the connection's input buffer, which
  // stops reading at max_input. (Not pausing the socket spares two epoll
  // changes per login; a client that closes is still noticed at once.)
  if (next == State::Login && before != State::Login) {
    // Commands the client pipelined behind the one that failed (in the
    // connection, or already read by the protocol).
    std::weak_ptr<ProxySession> weak = weak_from_this();
    loop_.post([weak] {
      auto s = weak.lock();
      if (s && s->state_ == State::Login && s->client_ && !s->client_->closed())
        s->on_client_input();
    });
  }
}

void ProxySession::on_input(core::Connection& c) noexcept {
  if (&c == client_.get()) {
    if (state_ == State::Login) on_client_input();
  } else if (&c == node_.get()) {
    if (state_ == State::Handshake) on_node_input();
  }
}

void ProxySession::on_tls_ready(core::Connection& c) noexcept {
  if (&c == client_.get()) {
    core::log_info("proxy_starttls").kv("sid", sid_).kv("tls", c.tls_description());
    if (!greeted_) {
      greeted_ = true;
      greet();
    } else {
      on_client_tls();
    }
  } else if (&c == node_.get()) {
    if (state_ == State::Connecting) {
      enter_state(State::Handshake);
      on_node_connected();
    } else {
      on_node_tls();
    }
  }
}

void ProxySession::on_closed(core::Connection& c, core::CloseReason reason) noexcept {
  if (&c == client_.get()) {
    drop_node();
    finish(end_reason_.empty() ? close_reason(true, reason) : end_reason_);
  } else if (&c == node_.get()) {
    if (node_reused_ && (!node_answered_ || !node_greeted_)) {
      // A kept connection the node closed (it stopped, or timed it out) just
      // as we took it, or before it answered the pending command: nothing
      // was lost, try a fresh one.
      core::log_debug("proxy_kept_node_closed").kv("sid", sid_).kv("node", node_name_);
      return replace_kept_node();
    }
    // Before the hand-off: the node went away mid-dialogue.
    // Before its greeting, a node that closes (a refused connect among them)
    // is failing: marked down. After it, a close is the node's answer to
    // this session (a refused login, a drain), not a failure of the node.
    std::string why;
    if (!c.error_text().empty()) {
      why =
          fmt::format("the node connection to {} failed: {}", c.peer().to_string(), c.error_text());
    } else {
      why = fmt::format("the node closed the connection{} ({})",
                        node_greeted_ ? "" : " before greeting", core::close_reason_name(reason));
    }
    bool down = reason != core::CloseReason::PeerClosed || !node_greeted_;
    loop_.post([weak = weak_from_this(), why, down] {
      if (auto s = weak.lock(); s && s->live()) s->fail_node(why, down);
    });
  }
}

bool ProxySession::plaintext_allowed() const {
  return listener_.allow_plaintext_auth || peer_.is_loopback() ||
         (client_ && client_->tls_active());
}

void ProxySession::start_client_tls() {
  if (!client_->start_tls(listener_.tls)) end("TLS could not start");
}

bool ProxySession::bad_command() {
  return ++bad_commands_ >= listener_.errors.max_bad_commands;
}

bool ProxySession::too_many_failures() const {
  return failed_logins_ >= listener_.errors.max_failed_logins;
}

void ProxySession::check_login(std::string user, core::Secret password, std::string_view service,
                               std::function<void(Decision)> done) {
  enter_state(State::Checking);
  auto delay = ctx_.throttle.delay(peer_.ip, user, std::chrono::steady_clock::now());
  std::weak_ptr<ProxySession> weak = weak_from_this();
  // Shared so the closure stays copyable (std::function); taken once.
  auto secret = std::make_shared<core::Secret>(std::move(password));
  auto ask = [this, weak, user = std::move(user), secret, service = std::string(service),
              done = std::move(done)]() mutable {
    auto answer = [this, weak, user, service, done = std::move(done)](Decision d) mutable {
      auto s = weak.lock();
      if (!s || !live()) return;
      decide(user, service, d);
      if (d.verdict != Verdict::Ok) enter_state(State::Login);
      done(std::move(d));
    };
    auto& directory = *gen_->directory;
    if (gen_->config->verify_credentials) {
      directory.authenticate(
          user, std::move(*secret), loop_, [answer](mapping::AuthResult r) mutable {
            Decision d;
            d.detail = r.detail;
            d.account = std::move(r.account);
            d.verdict = r.status == mapping::AuthStatus::Ok       ? Verdict::Ok
                        : r.status == mapping::AuthStatus::Denied ? Verdict::Denied
                                                                  : Verdict::TempFail;
            if (r.status == mapping::AuthStatus::Denied)
              d.detail = std::string(mapping::deny_reason_name(r.reason));
            answer(std::move(d));
          });
    } else {
      directory.lookup(user, loop_, [answer](mapping::LookupResult r) mutable {
        Decision d;
        d.detail = r.detail;
        d.account = std::move(r.account);
        d.verdict = r.status == mapping::LookupStatus::Found      ? Verdict::Ok
                    : r.status == mapping::LookupStatus::NotFound ? Verdict::Denied
                                                                  : Verdict::TempFail;
        answer(std::move(d));
      });
    }
  };
  if (delay.count() > 0) {
    core::log_info("login_delayed")
        .kv("sid", sid_)
        .kv("client", peer_.ip.to_string())
        .kv("delay_ms", delay.count());
    after_wait_ = std::move(ask);
    wait_timer_.arm(delay);
  } else {
    ask();
  }
}

void ProxySession::decide(const std::string& user, const std::string& service, Decision& d) {
  const auto now = std::chrono::steady_clock::now();
  if (d.verdict == Verdict::Ok) {
    if (d.account.state == mapping::AccountState::Disabled || !d.account.service_enabled(service)) {
      d.verdict = Verdict::Denied;
      d.detail = "service disabled";
    }
  }
  if (d.verdict == Verdict::Ok) {
    const auto& nodes = gen_->config->nodes;
    auto it = nodes.find(d.account.node);
    if (it == nodes.end() || it->second.services.count(service_) == 0) {
      d.verdict = Verdict::Unavailable;
      d.detail = "node " + d.account.node + " has no " + service_ + " endpoint here";
    } else if (!ctx_.health.is_up(d.account.node)) {
      d.verdict = Verdict::Unavailable;
      d.detail = "node " + d.account.node + " is down";
    }
  }
  std::string_view result = "ok";
  switch (d.verdict) {
    case Verdict::Ok:
      // Without verification only the node knows whether the password was
      // right (node_ready / node_refused_login).
      if (gen_->config->verify_credentials) ctx_.throttle.succeeded(user);
      login_for_throttle_ = user;
      user_ = d.account.address;
      break;
    case Verdict::Denied:
      result = "denied";
      ctx_.throttle.failed(peer_.ip, user, now);
      ++failed_logins_;
      break;
    case Verdict::TempFail:
      result = "tempfail";
      break;
    case Verdict::Unavailable:
      result = "unavailable";
      break;
  }
  ctx_.metrics.logins(proto_, result).inc();
  core::log_info("proxy_login")
      .kv("sid", sid_)
      .kv("proto", proto_)
      .kv("user", user)
      .kv("node", d.account.node)
      .kv("client", peer_.to_string())
      .kv("result", result)
      .kv("detail", d.detail);
}

bool ProxySession::node_refused_login() {
  // With verification on, the proxy judged the password already: a refusal
  // here is the node's own business (a state, a group), not a guess.
  if (gen_->config->verify_credentials) return false;
  ctx_.throttle.failed(peer_.ip, login_for_throttle_.empty() ? user_ : login_for_throttle_,
                       std::chrono::steady_clock::now());
  ++failed_logins_;
  return too_many_failures();
}

void ProxySession::lookup_address(std::string address,
                                  std::function<void(mapping::LookupResult)> done) {
  enter_state(State::Checking);
  std::weak_ptr<ProxySession> weak = weak_from_this();
  gen_->directory->lookup(address, loop_, [weak, done = std::move(done)](mapping::LookupResult r) {
    auto s = weak.lock();
    if (!s || !s->live()) return;
    s->enter_state(State::Login);
    done(std::move(r));
  });
}

void ProxySession::connect_node(const std::string& node) {
  node_name_ = node;
  const auto& nodes = gen_->config->nodes;
  auto it = nodes.find(node);
  auto ep = it == nodes.end() ? nullptr : &it->second;
  if (ep == nullptr || ep->services.count(service_) == 0) {
    enter_state(State::Login);
    return node_failed("no route to the node");
  }
  if (!ctx_.health.is_up(node)) {
    enter_state(State::Login);
    return node_failed("the node is down");
  }
  enter_state(State::Connecting);
  node_greeted_ = false;
  node_reused_ = false;
  node_answered_ = false;
  if (reuses_node_connections()) {
    if (auto kept = node_pool().take(node_pool_key())) {
      node_ = std::move(kept.conn);
      node_->set_handler(this);
      node_->set_idle_timeout(listener_.idle_timeout);
      node_reused_ = true;
      // With a command pending, the connection counts as greeted once the
      // node has answered it (node_greeted()); a close before replaces it.
      // No timer: the node sends that answer with the login's (it holds the
      // answers of pipelined commands while the login runs), so the wait is
      // the login check's, bounded by the login timeout as on a new
      // connection.
      node_greeted_ = kept.pending.empty();
      enter_state(State::Handshake);
      return on_node_reused(std::move(kept.pending));
    }
  }
  open_node(*ep);
}

void ProxySession::replace_kept_node() {
  loop_.post([weak = weak_from_this()] {
    auto s = weak.lock();
    if (!s || !s->live() || s->state_ != State::Handshake || !s->node_reused_) return;
    s->drop_node();
    s->node_reused_ = false;
    s->node_greeted_ = false;
    s->enter_state(State::Connecting);
    const auto& nodes = s->gen_->config->nodes;
    auto it = nodes.find(s->node_name_);
    if (it == nodes.end()) return s->fail_node("no route to the node", false);
    s->open_node(it->second);
  });
}

NodePool& ProxySession::node_pool() {
  return ctx_.pools.of(loop_);
}

std::string ProxySession::node_pool_key() const {
  return fmt::format("{}/{}/{}", gen_->id, node_name_, service_);
}

void ProxySession::keep_node(std::unique_ptr<core::Connection> c, std::string pending) {
  const ProxyConfig& cfg = *gen_->config;
  // After a reload no session asks for this generation's connections.
  if (draining() || cfg.node_pool_max_idle == 0 || ctx_.current()->id != gen_->id) {
    c->close();
    loop_.post([gone = std::shared_ptr<core::Connection>(std::move(c))] {});
    return;
  }
  node_pool().put(node_pool_key(), std::move(c), std::move(pending), cfg.node_pool_max_idle,
                  cfg.node_pool_idle_timeout);
}

void ProxySession::open_node(const NodeEndpoints& endpoints) {
  const NodeEndpoints* ep = &endpoints;
  connect_timer_.arm(gen_->config->connect_timeout);
  const core::Endpoint& to = ep->services.at(service_);
  core::Connection::Options node_options =
      connection_options(gen_->config->buffer, listener_.idle_timeout);
  // The node ends a session by closing first (after LOGOUT, QUIT): then a
  // reset, not a FIN, and no TIME_WAIT on either side.
  node_options.reset_after_peer_close = true;
  core::PeerAddress addr;
  if (auto ip = core::IpAddress::parse(to.host)) addr.ip = *ip;
  addr.port = to.port;
  if (ep->tls_mode != NodeEndpoints::TlsMode::Implicit) {
    // The node speaks first: no need to wait for the connect to complete
    // before watching for its greeting. A refused connect closes the
    // connection with an error; one that hangs meets connect_timer_.
    std::string error;
    int fd = core::open_tcp(to, &error);
    if (fd < 0) return fail_node("connect to " + to.to_string() + ": " + error, true);
    node_ = std::make_unique<core::Connection>(loop_, fd, addr, node_options, this);
    if (node_->closed()) return fail_node("could not set up the node connection", true);
    enter_state(State::Handshake);
    return on_node_connected();
  }
  std::weak_ptr<ProxySession> weak = weak_from_this();
  connecting_ =
      core::connect_tcp(loop_, to, gen_->config->connect_timeout,
                        [this, weak, to, ep, addr, node_options](int fd, std::string error) {
                          auto s = weak.lock();
                          if (!s || !live()) {
                            if (fd >= 0) ::close(fd);
                            return;
                          }
                          connecting_.reset();
                          if (fd < 0)
                            return fail_node("connect to " + to.to_string() + ": " + error, true);
                          // Implicit TLS: on_tls_ready() goes on to Handshake.
                          node_ = std::make_unique<core::Connection>(
                              loop_, fd, addr, node_options, this, ep->tls, ep->server_name);
                          if (node_->closed())
                            return fail_node("could not set up the node connection", true);
                        });
}

bool ProxySession::hop_starttls() const {
  auto it = gen_->config->nodes.find(node_name_);
  return it != gen_->config->nodes.end() && it->second.tls_mode == NodeEndpoints::TlsMode::StartTls;
}

void ProxySession::start_node_tls() {
  const auto& ep = gen_->config->nodes.at(node_name_);
  if (!node_->start_tls(ep.tls, ep.server_name)) fail_node("TLS to the node could not start", true);
}

void ProxySession::drop_node() {
  connecting_.reset();
  connect_timer_.cancel();
  if (node_) {
    node_->set_handler(nullptr);
    auto gone = std::move(node_);
    gone->close();
    // Freed on the next turn: we may be inside one of its callbacks.
    loop_.post([gone = std::shared_ptr<core::Connection>(std::move(gone))] {});
  }
}

void ProxySession::fail_node(std::string_view why, bool down) {
  if (!live() || state_ == State::Pumping) return;
  drop_node();
  if (down) ctx_.health.report_failure(node_name_, why);
  ctx_.metrics.logins(proto_, "unavailable").inc();
  core::log_warn("proxy_node_failed")
      .kv("sid", sid_)
      .kv("proto", proto_)
      .kv("user", user_)
      .kv("node", node_name_)
      .kv("reason", why);
  enter_state(State::Login);
  node_failed(why);
}

void ProxySession::node_greeted() {
  node_greeted_ = true;
  // The node is alive. How long its login check takes (directory, store) is
  // bounded by the login timeout and never marks the node down.
  connect_timer_.cancel();
}

void ProxySession::node_ready() {
  connect_timer_.cancel();
  if (!gen_->config->verify_credentials) ctx_.throttle.succeeded(login_for_throttle_);
  ctx_.health.report_success(node_name_);
  core::log_debug("proxy_handoff")
      .kv("sid", sid_)
      .kv("proto", proto_)
      .kv("user", user_)
      .kv("node", node_name_)
      .kv("client", peer_.to_string());
}

void ProxySession::start_pump() {
  enter_state(State::Pumping);
  login_timer_.cancel();
  connect_timer_.cancel();
  std::weak_ptr<ProxySession> weak = weak_from_this();
  pump_ = std::make_unique<Pump>(
      loop_, std::move(client_), std::move(node_), gen_->config->buffer,
      SpliceOptions{gen_->config->splice ? &ctx_.pipes.of(loop_) : nullptr,
                    gen_->config->splice_pipe},
      listener_.idle_timeout,
      [weak](const Pump::Result& r) {
        if (auto s = weak.lock()) {
          s->bytes_in_ = r.bytes_in;
          s->bytes_out_ = r.bytes_out;
          s->finish(s->end_reason_.empty() ? r.reason : s->end_reason_);
        }
      },
      Pump::kSpliceAfter, make_handback());
  pump_->start();
}

void ProxySession::read_node_lines(std::size_t max,
                                   const std::function<bool(const std::string&)>& handle) {
  // A line must fit the connection's input limit to ever complete.
  max = std::min(max, gen_->config->buffer - 2);
  while (state_ == State::Handshake && node_) {
    bool too_long = false;
    auto line = node_->read_line(max, &too_long);
    if (too_long) return fail_node("an overlong line from the node", false);
    if (!line) return;
    node_answered_ = true;
    if (!handle(*line)) return;
  }
}

void ProxySession::send(std::string_view bytes) {
  if (client_) client_->write(bytes);
}

void ProxySession::send_node(std::string_view bytes) {
  if (node_) node_->write(bytes);
}

void ProxySession::end(std::string_view why) {
  if (closed_ || !client_ || state_ == State::Closed) return;
  end_reason_ = std::string(why);
  // Nothing the client sends from now on is read or answered.
  enter_state(State::Closed);
  stop_waiting();
  drop_node();
  send(goodbye(why));
  client_->close_after_flush();
}

void ProxySession::quit(std::string_view reason) {
  if (closed_ || !client_ || state_ == State::Closed) return;
  end_reason_ = std::string(reason);
  enter_state(State::Closed);
  stop_waiting();
  drop_node();
  client_->close_after_flush();
}

void ProxySession::stop_waiting() {
  login_timer_.cancel();
  wait_timer_.cancel();
  after_wait_ = nullptr;
  // The goodbye is flushed within this, even to a client that reads nothing.
  if (client_) client_->set_idle_timeout(std::chrono::seconds(10));
}

void ProxySession::on_login_timeout() {
  if (state_ == State::Pumping || state_ == State::Closed || closed_) return;
  end("login timeout");
}

void ProxySession::drain() {
  if (state_ == State::Pumping || state_ == State::Closed || closed_) return;
  end("shutting down");
}

void ProxySession::close(std::string_view reason) {
  if (closed_) return;
  end_reason_ = std::string(reason);
  if (pump_) {
    pump_->close();
  } else {
    drop_node();
    if (client_ && !client_->closed()) client_->close();
  }
  finish(std::string(reason));
}

void ProxySession::finish(std::string reason) {
  if (closed_) return;
  closed_ = true;
  state_ = State::Closed;
  login_timer_.cancel();
  connect_timer_.cancel();
  wait_timer_.cancel();
  if (pump_) {
    auto p = pump_->progress();
    bytes_in_ = p.bytes_in;
    bytes_out_ = p.bytes_out;
    spliced_ = p.spliced;
  }
  ctx_.metrics.bytes(proto_, "in").inc(bytes_in_);
  ctx_.metrics.bytes(proto_, "out").inc(bytes_out_);
  ctx_.metrics.active(proto_).add(-1);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started_);
  core::log_info("session_end")
      .kv("sid", sid_)
      .kv("proto", proto_)
      .kv("user", user_)
      .kv("node", node_name_)
      .kv("client", peer_.to_string())
      .kv("via", via_ ? via_->to_string() : std::string())
      .kv("bytes_in", bytes_in_)
      .kv("bytes_out", bytes_out_)
      .kv("duration_ms", ms.count())
      .kv("pump", pump_ ? (spliced_ ? "splice" : "buffered") : "none")
      .kv("node_conn", node_name_.empty() ? "none"
                       : node_reused_     ? "reused"
                                          : "new")
      .kv("reason", reason);
  if (ended_) ended_(this);
}

}  // namespace postern::proxy
