// What every POP3 session of a node shares: the node, the maildrop locks and
// the metrics, owned by the Pop3Service and outliving its sessions.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <string_view>

#include "backend/node/login_check.hpp"
#include "backend/node/node_service.hpp"
#include "backend/pop3/maildrop_locks.hpp"
#include "backend/pop3/pop3_commands.hpp"
#include "core/metrics.hpp"

namespace postern::node::pop3 {

// Counters registered once, so that a command costs an atomic increment.
class Pop3Metrics {
 public:
  explicit Pop3Metrics(core::MetricsRegistry& registry);

  void connection() { connections_.inc(); }
  void command(std::string_view name);  // a table name, or anything else as "unknown"
  // `result`: a login_outcome_name() or "in_use".
  void login(std::string_view result);
  void retrieved(std::uint64_t bytes) { retr_bytes_.inc(bytes); }
  core::Gauge& sessions() { return sessions_; }

 private:
  core::MetricsRegistry& registry_;
  std::map<std::string_view, core::Counter*> commands_;  // table names, and "unknown"
  core::Counter& connections_;
  core::Counter& retr_bytes_;
  core::Gauge& sessions_;
};

struct Pop3Context {
  explicit Pop3Context(NodeContext& n) : node(n), metrics(n.metrics) {}
  NodeContext& node;
  MaildropLocks locks;
  Pop3Metrics metrics;
  std::atomic<std::size_t> open_sessions{0};
};

}  // namespace postern::node::pop3
