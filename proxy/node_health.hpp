// Which nodes are up, as this proxy sees them (DESIGN.md section 5).
//
// A node is up until a connect to it fails or times out; then it is down:
// sessions routed to it get the protocol's temporary failure at once, without
// waiting for another connect timeout, and a background probe (a TCP connect
// to one of the node's services, every health.probe_interval)
// brings it back when it answers (IMAP first, then POP3, SMTP, submission,
// HTTP: whichever the node table has). A successful hand-off also marks it up.
//
// Threading: is_up() / report_*() are thread-safe and cheap (sessions on every
// loop call them). Probes run on the loop given to start(); stop() (or the
// destructor) must run on that loop.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/event_loop.hpp"
#include "core/metrics.hpp"
#include "proxy/proxy_config.hpp"

namespace postern::core {
class PendingConnect;
}

namespace postern::proxy {

class NodeHealth {
 public:
  NodeHealth(HealthConfig config, core::MetricsRegistry& metrics);
  NodeHealth(const NodeHealth&) = delete;
  NodeHealth& operator=(const NodeHealth&) = delete;
  ~NodeHealth();

  // The nodes to watch (at start and after a reload). Nodes no longer
  // configured are forgotten; known ones keep their state. Thread-safe.
  void set_nodes(const std::map<std::string, NodeEndpoints>& nodes);
  // Unknown nodes count as up (the caller finds no endpoint anyway).
  bool is_up(std::string_view node) const;
  // A connect or the node's greeting failed / timed out: mark down (logged
  // once per transition) and probe in the background.
  void report_failure(std::string_view node, std::string_view reason);
  void report_success(std::string_view node);

  // Starts the probe timer on `loop`.
  void start(core::EventLoop& loop);
  void stop();

 private:
  struct State;
  void probe_due();
  std::shared_ptr<State> state_;
};

}  // namespace postern::proxy
