#include "core/listener.hpp"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/log.hpp"
#include "core/proxy_protocol.hpp"

namespace postern::core {

namespace {

// Connections sending their PROXY header, per listener and loop. A balancer
// sends the header in its first packet, so a long queue here means peers that
// hold connections open without one; past this they are closed at once.
constexpr std::size_t kMaxPendingHeaders = 1024;

}  // namespace

ListenerConfig ListenerConfig::from_config(const ConfigNode& n,
                                           const std::shared_ptr<TlsContext>& tls) {
  n.allow_only({"name", "protocol", "address", "tls", "access", "flow", "errors", "idle_timeout",
                "allow_plaintext_auth", "proxy_protocol", "proxy_protocol_from",
                "proxy_protocol_timeout"});
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
  c.proxy_protocol = n.boolean_or("proxy_protocol", false);
  std::string bad;
  auto from = NetworkList::parse(n.strings_or("proxy_protocol_from", {}), &bad);
  if (!from)
    n.fail("proxy_protocol_from",
           fmt::format("expected networks such as 10.0.0.0/8, found \"{}\"", bad));
  // Accepting the header from anyone would let any client choose its address.
  if (c.proxy_protocol && from->empty())
    n.fail("proxy_protocol_from",
           "expected the load balancers' networks (required when proxy_protocol is true)");
  c.proxy_protocol_from = *from;
  c.proxy_protocol_timeout = n.seconds_or("proxy_protocol_timeout", 5, 0.1, 300);
  return c;
}

namespace {

// The socket address to bind for `address`; throws ConfigError(file, key)
// when its host is not an IP address.
socklen_t bind_address(const Endpoint& address, const std::string& file, const std::string& key,
                       sockaddr_storage& ss) {
  ss = sockaddr_storage{};
  auto ip = address.host.empty() ? IpAddress::parse("::") : IpAddress::parse(address.host);
  if (!ip) throw ConfigError(file, key + ".address", "expected an IP address to listen on");
  if (ip->v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(address.port);
    std::memcpy(&s6->sin6_addr, ip->bytes.data(), 16);
    return sizeof *s6;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(address.port);
  std::memcpy(&s4->sin_addr, ip->bytes.data(), 4);
  return sizeof *s4;
}

ConfigError cannot_listen(const Endpoint& address, const std::string& file, const std::string& key,
                          int err) {
  return ConfigError(
      file, key + ".address",
      fmt::format("cannot listen on {}: {}", address.to_string(), std::strerror(err)));
}

// Whether sockets bound to `a` and `b` on one port would take each other's
// connections: the same address, or a wildcard covering the other ("::"
// covers IPv4 too; "0.0.0.0" only IPv4).
bool overlaps(const IpAddress& a, const IpAddress& b) {
  if (a == b) return true;
  auto wildcard = [](const IpAddress& ip) {
    return std::all_of(ip.bytes.begin(), ip.bytes.begin() + (ip.v6 ? 16 : 4),
                       [](std::uint8_t x) { return x == 0; });
  };
  if (wildcard(a) && (a.v6 || !b.v6)) return true;
  if (wildcard(b) && (b.v6 || !a.v6)) return true;
  return false;
}

}  // namespace

void check_own_address(const ConfigNode& node, const ListenerConfig& fresh,
                       const std::vector<std::unique_ptr<ListenerConfig>>& earlier) {
  if (fresh.address.port == 0) return;
  auto host = [](const Endpoint& e) { return IpAddress::parse(e.host.empty() ? "::" : e.host); };
  const auto mine = host(fresh.address);
  if (!mine) return;  // the bind names the bad host
  for (std::size_t k = 0; k < earlier.size(); ++k) {
    const ListenerConfig& other = *earlier[k];
    if (other.address.port != fresh.address.port) continue;
    const auto theirs = host(other.address);
    if (!theirs || !overlaps(*mine, *theirs)) continue;
    node.fail("address", fmt::format("expected an address no other listener uses; "
                                     "listeners[{}] (\"{}\") listens on {} too",
                                     k, other.name, other.address.to_string()));
  }
}

void Listener::check_free(const Endpoint& address, const std::string& file,
                          const std::string& key) {
  sockaddr_storage ss;
  socklen_t len = bind_address(address, file, key, ss);
  // SO_REUSEPORT would let this process join the listening sockets of
  // another one of the same user (a second node started on the same file),
  // and the kernel would then split connections between the two. A bind
  // without it fails on any socket listening there or on an overlapping
  // address. SO_REUSEADDR keeps connections in TIME_WAIT from a previous run
  // out of the way.
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw cannot_listen(address, file, key, errno);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    ::close(fd);
    throw cannot_listen(address, file, key, err);
  }
  ::close(fd);
}

void check_addresses_free(const std::vector<std::unique_ptr<ListenerConfig>>& listeners,
                          const std::optional<Endpoint>& admin, const std::string& file) {
  for (std::size_t k = 0; k < listeners.size(); ++k) {
    Listener::check_free(listeners[k]->address, file, "listeners[" + std::to_string(k) + "]");
  }
  // The admin server takes a host name too; its own bind reports those.
  if (admin && (admin->host.empty() || IpAddress::parse(admin->host)))
    Listener::check_free(*admin, file, "admin");
}

Listener::Listener(EventLoop& loop, const ListenerConfig& config, Service& service,
                   const std::string& file, const std::string& key)
    : loop_(loop), config_(config), service_(service) {
  sockaddr_storage ss;
  socklen_t len = bind_address(config.address, file, key, ss);
  int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw cannot_listen(config.address, file, key, errno);
  // Set before listen(): accepted sockets inherit TCP_NODELAY from the
  // listening one (Linux), which spares a setsockopt per connection
  // (Connection::Options::nodelay_inherited), and none is accepted without it.
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    ::close(fd);
    throw cannot_listen(config.address, file, key, err);
  }
  listener_ = evconnlistener_new(loop.base(), &Listener::on_accept, this,
                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 1024, fd);
  if (listener_ == nullptr) {
    int err = errno;
    ::close(fd);
    throw cannot_listen(config.address, file, key, err);
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
  // Connections still sending their PROXY header were never admitted: close
  // them rather than start sessions after the drain.
  pending_.clear();
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
  if (l->config_.proxy_protocol) {
    l->await_header(fd, *peer);
    return;
  }
  l->admit(fd, *peer, std::nullopt);
}

struct Listener::PendingHeader {
  PendingHeader(Listener& l, int socket, const PeerAddress& lb)
      : owner(l), fd(socket), balancer(lb) {}
  PendingHeader(const PendingHeader&) = delete;
  PendingHeader& operator=(const PendingHeader&) = delete;
  ~PendingHeader() {
    event.reset();  // before the fd it watches
    if (fd >= 0) ::close(fd);
  }

  Listener& owner;
  int fd;
  PeerAddress balancer;
  ProxyProtocolParser parser;
  std::size_t received = 0;  // header bytes read so far
  std::chrono::steady_clock::time_point deadline;
  EventPtr event;
};

void Listener::await_header(int fd, const PeerAddress& balancer) {
  auto refuse_now = [&](std::string_view reason) {
    log_info("proxy_protocol_refused")
        .kv("listener", config_.name)
        .kv("client", balancer.to_string())
        .kv("reason", reason);
    ::close(fd);
  };
  if (!config_.proxy_protocol_from.contains(balancer.ip)) return refuse_now("untrusted");
  if (pending_.size() >= kMaxPendingHeaders) return refuse_now("too_many_pending");
  auto p = std::make_unique<PendingHeader>(*this, fd, balancer);
  p->event.reset(event_new(loop_.base(), fd, EV_READ, &Listener::on_header_event, p.get()));
  if (!p->event) return;  // p closes the fd
  p->deadline = std::chrono::steady_clock::now() + config_.proxy_protocol_timeout;
  auto& pending = *p;
  pending_.emplace(fd, std::move(p));
  // A balancer sends the header with its first packet: it is often here already.
  read_header(pending);
}

void Listener::on_header_event(int, short what, void* arg) noexcept {
  auto& p = *static_cast<PendingHeader*>(arg);
  if ((what & EV_TIMEOUT) != 0) {
    p.owner.drop(p, "timeout");
    return;
  }
  p.owner.read_header(p);
}

void Listener::arm(PendingHeader& p) {
  // Not persistent, and re-armed with what is left of one deadline: a peer
  // that trickles a byte at a time gets no more time than one that is silent.
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(
      p.deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return drop(p, "timeout");
  timeval tv{static_cast<time_t>(left.count() / 1'000'000),
             static_cast<suseconds_t>(left.count() % 1'000'000)};
  if (event_add(p.event.get(), &tv) != 0) drop(p, "event_error");
}

void Listener::read_header(PendingHeader& p) {
  // The largest header we accept; what follows it stays in the socket.
  std::array<char, kProxyV2DefaultMaxHeader> buf{};
  // Peek, then take only what the parser used: the header's end is known only
  // once parsed, and the bytes after it belong to the session. Taking the
  // header's bytes as they come (rather than peeking at them again) also
  // lets an end of stream after a partial header show as a read of 0.
  ssize_t n = ::recv(p.fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return drop(p, "closed");
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return arm(p);
    return drop(p, "read_error");
  }
  auto r = p.parser.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  if (r.status == ProxyStatus::Error) {
    p.received += r.consumed;  // for the log: how far the header got
    return drop(p, r.error);
  }
  // The bytes are in the socket buffer already: this read cannot come up short.
  if (::recv(p.fd, buf.data(), r.consumed, MSG_DONTWAIT) != static_cast<ssize_t>(r.consumed))
    return drop(p, "read_error");
  p.received += r.consumed;
  if (r.status == ProxyStatus::NeedMore) return arm(p);
  const int fd = std::exchange(p.fd, -1);
  const PeerAddress balancer = p.balancer;
  pending_.erase(fd);  // destroys p
  log_debug("proxy_protocol")
      .kv("listener", config_.name)
      .kv("client", r.header.local ? balancer.to_string() : r.header.source.to_string())
      .kv("via", balancer.to_string())
      .kv("version", r.header.version)
      .kv("local", r.header.local);
  // LOCAL / UNKNOWN: the balancer speaking for itself (health checks).
  if (r.header.local) return admit(fd, balancer, std::nullopt);
  admit(fd, r.header.source, balancer);
}

void Listener::drop(PendingHeader& p, std::string_view reason) {
  log_info("proxy_protocol_failed")
      .kv("listener", config_.name)
      .kv("client", p.balancer.to_string())
      .kv("reason", reason)
      .kv("bytes", p.received);
  const int fd = p.fd;  // a copy: the key must outlive the entry it erases
  pending_.erase(fd);   // closes the socket
}

void Listener::admit(int fd, const PeerAddress& peer, const std::optional<PeerAddress>& via) {
  if (!config_.access.allowed(peer.ip)) {
    auto line = log_info("connection_denied");
    line.kv("listener", config_.name).kv("client", peer.to_string());
    if (via) line.kv("via", via->to_string());
    ::close(fd);
    return;
  }
  auto verdict = config_.flow->admit(peer.ip, FlowControl::Clock::now());
  if (verdict != FlowVerdict::Accept) {
    refuse(fd, verdict, peer);
    return;
  }
  Accepted a;
  a.fd = fd;
  a.peer = peer;
  a.via = via;
  a.listener = &config_;
  a.ticket = std::make_unique<FlowControl::Ticket>(config_.flow, peer.ip);
  service_.accept(loop_, std::move(a));
}

}  // namespace postern::core
