// What every SMTP session of a node shares: the node, the queue, the settings
// and the metrics, owned by the SmtpService and outliving its sessions.
#pragma once
#include <atomic>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "backend/node/node_service.hpp"
#include "backend/queue/queue.hpp"
#include "backend/smtp/smtp_config.hpp"
#include "core/metrics.hpp"

namespace postern::node::smtp {

// Counters registered once, so that a command costs an atomic increment.
class SmtpMetrics {
 public:
  explicit SmtpMetrics(core::MetricsRegistry& registry);
  void connection() { connections_.inc(); }
  void command(std::string_view verb);  // a verb_name(), or anything else as "unknown"
  void login(std::string_view result);
  // A message accepted (queued durably), or refused with `reason`.
  void accepted(std::uint64_t bytes) {
    accepted_.inc();
    accepted_bytes_.inc(bytes);
  }
  void rejected(std::string_view reason);  // one of a fixed set: see smtp_metrics.cpp
  core::Gauge& sessions() { return sessions_; }

 private:
  core::MetricsRegistry& registry_;
  std::map<std::string_view, core::Counter*> commands_;
  std::map<std::string_view, core::Counter*> rejects_;
  core::Counter& connections_;
  core::Counter& accepted_;
  core::Counter& accepted_bytes_;
  core::Gauge& sessions_;
};

struct SmtpContext {
  SmtpContext(NodeContext& n, queue::Queue& q)
      : node(n), config(n.config.smtp), queue(q), metrics(n.metrics) {}
  NodeContext& node;
  const SmtpConfig& config;
  queue::Queue& queue;
  SmtpMetrics metrics;
  std::atomic<std::size_t> open_sessions{0};
};

}  // namespace postern::node::smtp
