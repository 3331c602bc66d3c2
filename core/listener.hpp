// Listening sockets. A Server owns N worker loops (one thread each); every
// listener is bound once per loop with SO_REUSEPORT, so the kernel spreads
// new connections over the loops and no loop hands sockets to another.
//
// Before a Service sees a connection, the listener applies its access rules
// and flow control; a refused peer gets the service's refusal line (e.g.
// "421 4.7.0 ..." or "* BYE ...") and is closed.
#pragma once

#include <chrono>
#include <memory>
#include <string>
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

  // One entry of a "listeners" array:
  //   {"name": "imaps", "protocol": "imap", "address": "127.0.0.1:11993",
  //    "tls": "starttls" | "implicit" | "none",
  //    "access": [...], "flow": {...}, "errors": {...}, "idle_timeout": 1800,
  //    "allow_plaintext_auth": false}
  // `tls_config` is the process's "tls" object (cert, key...), required when
  // the listener uses TLS.
  static ListenerConfig from_config(const ConfigNode& node, const std::shared_ptr<TlsContext>& tls);
  // Whether STARTTLS / STLS may be offered here.
  bool starttls_available() const { return tls != nullptr && !implicit_tls; }
};

// A connection accepted and admitted, handed to a Service on its loop.
struct Accepted {
  int fd = -1;
  PeerAddress peer;
  const ListenerConfig* listener = nullptr;
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

  void stop();                       // stops accepting; open sessions go on
  std::uint16_t bound_port() const;  // the real port (for port 0 in tests)

 private:
  static void on_accept(evconnlistener*, int fd, sockaddr* sa, int len, void* self) noexcept;
  void refuse(int fd, FlowVerdict verdict, const PeerAddress& peer);

  EventLoop& loop_;
  const ListenerConfig& config_;
  Service& service_;
  evconnlistener* listener_ = nullptr;
};

}  // namespace postern::core
