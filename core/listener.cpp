#include "core/listener.hpp"

#include <arpa/inet.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"

namespace postern::core {

ListenerConfig ListenerConfig::from_config(const ConfigNode& n,
                                           const std::shared_ptr<TlsContext>& tls) {
  n.allow_only({"name", "protocol", "address", "tls", "access", "flow", "errors", "idle_timeout",
                "allow_plaintext_auth"});
  ListenerConfig c;
  c.name = n.string("name");
  c.protocol = n.string_or("protocol", c.name);
  auto text = n.string("address");
  auto ep = Endpoint::parse(text);
  if (!ep)
    n.fail(
        "address",
        fmt::format("expected host:port such as 127.0.0.1:143 or [::1]:143, found \"{}\"", text));
  c.address = *ep;
  auto mode = n.choice_or("tls", {"none", "starttls", "implicit"}, "none");
  if (mode != "none") {
    if (!tls) n.fail("tls", "needs the top-level \"tls\" object (cert and key) to be configured");
    c.tls = tls;
    c.implicit_tls = mode == "implicit";
  }
  c.access = AccessRules::from_config(n, "access");
  FlowLimits flow;
  if (auto f = n.optional_child("flow")) flow = FlowLimits::from_config(*f);
  c.flow = std::make_shared<FlowControl>(flow);
  if (auto e = n.optional_child("errors")) c.errors = ErrorLimits::from_config(*e);
  c.idle_timeout = n.seconds_or("idle_timeout", 1800, 1, 86400);
  c.allow_plaintext_auth = n.boolean_or("allow_plaintext_auth", false);
  return c;
}

Listener::Listener(EventLoop& loop, const ListenerConfig& config, Service& service,
                   const std::string& file, const std::string& key)
    : loop_(loop), config_(config), service_(service) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto ip =
      config.address.host.empty() ? IpAddress::parse("::") : IpAddress::parse(config.address.host);
  if (!ip) throw ConfigError(file, key + ".address", "expected an IP address to listen on");
  if (ip->v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(config.address.port);
    std::memcpy(&s6->sin6_addr, ip->bytes.data(), 16);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(config.address.port);
    std::memcpy(&s4->sin_addr, ip->bytes.data(), 4);
    len = sizeof *s4;
  }
  unsigned flags =
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC;
  listener_ = evconnlistener_new_bind(loop.base(), &Listener::on_accept, this, flags, 1024,
                                      reinterpret_cast<sockaddr*>(&ss), static_cast<int>(len));
  if (listener_ == nullptr) {
    throw ConfigError(
        file, key + ".address",
        fmt::format("cannot listen on {}: {}", config.address.to_string(), std::strerror(errno)));
  }
}

Listener::~Listener() {
  if (listener_ != nullptr) evconnlistener_free(listener_);
}

void Listener::stop() {
  if (listener_ != nullptr) {
    evconnlistener_free(listener_);
    listener_ = nullptr;
  }
}

std::uint16_t Listener::bound_port() const {
  if (listener_ == nullptr) return 0;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(evconnlistener_get_fd(listener_), reinterpret_cast<sockaddr*>(&ss), &len);
  auto p = PeerAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  return p ? p->port : 0;
}

void Listener::refuse(int fd, FlowVerdict verdict, const PeerAddress& peer) {
  log_info("connection_refused")
      .kv("listener", config_.name)
      .kv("client", peer.to_string())
      .kv("reason", flow_verdict_name(verdict));
  // Best effort, without waiting: a refused peer gets one line at most. On a
  // TLS listener it gets nothing (it would not understand plaintext).
  if (!config_.implicit_tls) {
    auto line = service_.refusal(verdict);
    if (!line.empty()) [[maybe_unused]]
      auto n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::close(fd);
}

void Listener::on_accept(evconnlistener*, int fd, sockaddr* sa, int, void* self) noexcept {
  auto* l = static_cast<Listener*>(self);
  auto peer = PeerAddress::from_sockaddr(sa);
  if (!peer) {
    ::close(fd);
    return;
  }
  if (!l->config_.access.allowed(peer->ip)) {
    log_info("connection_denied").kv("listener", l->config_.name).kv("client", peer->to_string());
    ::close(fd);
    return;
  }
  auto verdict = l->config_.flow->admit(peer->ip, FlowControl::Clock::now());
  if (verdict != FlowVerdict::Accept) {
    l->refuse(fd, verdict, *peer);
    return;
  }
  Accepted a;
  a.fd = fd;
  a.peer = *peer;
  a.listener = &l->config_;
  a.ticket = std::make_unique<FlowControl::Ticket>(l->config_.flow, peer->ip);
  l->service_.accept(l->loop_, std::move(a));
}

}  // namespace postern::core
