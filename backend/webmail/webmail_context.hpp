// What every WebMail connection of a node shares: the node, the browser
// sessions and the metrics. Owned by the WebmailService; outlives its
// connections.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <string_view>

#include "backend/node/node_service.hpp"
#include "backend/webmail/web_sessions.hpp"
#include "core/metrics.hpp"

namespace postern::node::webmail {

// Counters registered once where the label set is known in advance, so that a
// request costs an atomic increment.
class WebmailMetrics {
 public:
  explicit WebmailMetrics(core::MetricsRegistry& registry);

  void connection() { connections_.inc(); }
  void request(int status);
  // `result`: a login_outcome_name(), or "full" when no session could be made.
  void login(std::string_view result);
  // Open connections (what a drain waits for), like every service's.
  core::Gauge& sessions() { return sessions_; }
  // Logged-in browser sessions (WebSessions::size()).
  core::Gauge& web_sessions() { return web_sessions_; }

 private:
  core::MetricsRegistry& registry_;
  core::Counter& connections_;
  core::Gauge& sessions_;
  core::Gauge& web_sessions_;
  std::array<core::Counter*, 600> by_status_{};  // 100..599; others as 0
};

struct WebmailContext {
  explicit WebmailContext(NodeContext& n)
      : node(n),
        config(n.config.webmail),
        sessions(config.session_idle_timeout, config.session_max_age, config.max_sessions),
        metrics(n.metrics) {
    sessions.set_gauge(&metrics.web_sessions());
  }
  NodeContext& node;
  const WebmailConfig& config;
  WebSessions sessions;
  WebmailMetrics metrics;
  std::atomic<std::size_t> open_connections{0};
};

}  // namespace postern::node::webmail
