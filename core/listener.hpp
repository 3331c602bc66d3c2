// Listening sockets. A Server owns N worker loops (one thread each); every
// listener is bound once per loop with SO_REUSEPORT, so the kernel spreads
// new connections over the loops and no loop hands sockets to another.
//
// Before a Service sees a connection, the listener applies its access rules
// and flow control; a refused peer gets the service's refusal line (e.g.
// "421 4.7.0 ..." or "* BYE ...") and is closed.
//
// With proxy_protocol, the listener first reads the PROXY header on the loop
// (an event on the socket, never a blocking read): it peeks, and takes exactly
// the header's bytes, so the session starts at its own first byte. Until the
// header is complete the connection is the listener's; a bounded number wait
// at once on each loop, each for at most proxy_protocol_timeout.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/access_control.hpp"
#include "core/config.hpp"
#include "core/event_loop.hpp"
#include "core/net_address.hpp"
#include "core/tls.hpp"

struct evconnlistener;

namespace postern::core {

struct ListenerConfig {
  std::string name;      // "imap", "imaps", "pop3" ...: for logs and metrics
  std::string protocol;  // which service answers: "imap", "pop3" ... (default: name)
  Endpoint address;
  bool implicit_tls = false;
  std::shared_ptr<TlsContext> tls;  // implicit TLS, or STARTTLS when offered; may be null
  AccessRules access;
  std::shared_ptr<FlowControl> flow;  // shared by the listener's sockets on every loop
  ErrorLimits errors;
  std::chrono::milliseconds idle_timeout{30 * 60 * 1000};
  // Plaintext logins on a connection that is neither TLS nor loopback.
  bool allow_plaintext_auth = false;
  // PROXY protocol (HAProxy's v1 text or v2 binary header) before the
  // session's first byte, accepted only from `proxy_protocol_from` (load
  // balancers); a connection from elsewhere, or without a valid header within
  // proxy_protocol_timeout, is closed. The header's source address then
  // replaces the peer for access rules, flow control, logs and forwarding.
  bool proxy_protocol = false;
  NetworkList proxy_protocol_from;
  std::chrono::milliseconds proxy_protocol_timeout{5'000};

  // One entry of a "listeners" array:
  //   {"name": "imaps", "protocol": "imap", "address": "127.0.0.1:11993",
  //    "tls": "starttls" | "implicit" | "none",
  //    "access": [...], "flow": {...}, "errors": {...}, "idle_timeout": 1800,
  //    "allow_plaintext_auth": false, "proxy_protocol": false,
  //    "proxy_protocol_from": ["10.0.0.0/8"], "proxy_protocol_timeout": 5}
  // `tls_config` is the process's "tls" object (cert, key...), required when
  // the listener uses TLS.
  static ListenerConfig from_config(const ConfigNode& node, const std::shared_ptr<TlsContext>& tls);
  // Whether STARTTLS / STLS may be offered here.
  bool starttls_available() const { return tls != nullptr && !implicit_tls; }
};

// Every loop's socket of a listener joins one SO_REUSEPORT group, so two
// listeners of one process on one address would silently share its
// connections (an IMAP client landing on the IMAPS socket waits for ever).
// Refuses `fresh`, read from `node`, when one of `earlier` (the entries
// before it in the same "listeners" array) has its address. Port 0 is exempt.
void check_own_address(const ConfigNode& node, const ListenerConfig& fresh,
                       const std::vector<std::unique_ptr<ListenerConfig>>& earlier);

// Listener::check_free for each of a process's listeners ("listeners[N]")
// and its admin address ("admin", when given as an IP address).
void check_addresses_free(const std::vector<std::unique_ptr<ListenerConfig>>& listeners,
                          const std::optional<Endpoint>& admin, const std::string& file);

// A connection accepted and admitted, handed to a Service on its loop.
struct Accepted {
  int fd = -1;
  PeerAddress peer;
  const ListenerConfig* listener = nullptr;
  // The load balancer's address when a PROXY header gave `peer`.
  std::optional<PeerAddress> via;
  std::unique_ptr<FlowControl::Ticket> ticket;  // keep while the session lives
};

class Service {
 public:
  virtual ~Service() = default;
  // Starts a session for the connection, on `loop` (the accepting loop).
  virtual void accept(EventLoop& loop, Accepted connection) = 0;
  // The line sent to a refused peer before closing (with CRLF), e.g.
  // "* BYE Too many connections\r\n". Empty: close silently.
  virtual std::string refusal(FlowVerdict verdict) const = 0;
};

class Listener {
 public:
  // Binds at once; throws ConfigError(file, key) when the address is in use
  // or not ours.
  Listener(EventLoop& loop, const ListenerConfig& config, Service& service, const std::string& file,
           const std::string& key);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  // Throws ConfigError(file, key + ".address") when a socket of another
  // process, or one left behind, already listens on `address` or overlaps
  // it (a wildcard and a specific address on one port). Call once per
  // address before anything binds or touches shared state (a node's spool):
  // SO_REUSEPORT would otherwise let a second node of the same user join the
  // first one's port.
  static void check_free(const Endpoint& address, const std::string& file, const std::string& key);

  // Stops accepting; open sessions, and connections still sending their
  // PROXY header, go on.
  void stop();
  std::uint16_t bound_port() const;  // the real port (for port 0 in tests)

 private:
  // A connection whose PROXY header has not arrived yet (listener.cpp).
  struct PendingHeader;

  static void on_accept(evconnlistener*, int fd, sockaddr* sa, int len, void* self) noexcept;
  static void on_header_event(int fd, short what, void* pending) noexcept;
  // Access rules, flow control, then the Service. Takes the fd.
  void admit(int fd, const PeerAddress& peer, const std::optional<PeerAddress>& via);
  void refuse(int fd, FlowVerdict verdict, const PeerAddress& peer);
  void await_header(int fd, const PeerAddress& balancer);
  void read_header(PendingHeader& pending);
  void arm(PendingHeader& pending);
  void drop(PendingHeader& pending, std::string_view reason);  // logs, closes, forgets

  EventLoop& loop_;
  const ListenerConfig& config_;
  Service& service_;
  evconnlistener* listener_ = nullptr;
  // By fd. Each entry owns its socket and event; the destructor closes both.
  std::unordered_map<int, std::unique_ptr<PendingHeader>> pending_;
};

}  // namespace postern::core
