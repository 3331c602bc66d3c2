// The node's IMAP service: accepts connections (after the listener's access
// rules and flow control), keeps the sessions of every loop, and drains them
// at shutdown. Registered in backend/node/node_services.cpp as "imap".
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backend/imap/mailbox_hub.hpp"
#include "backend/node/node_service.hpp"
#include "core/metrics.hpp"

namespace postern::node::imap {

class Session;

// Counters shared by every session; created once, read-only afterwards.
struct ImapMetrics {
  explicit ImapMetrics(core::MetricsRegistry& registry);
  core::Counter& connections;
  core::Gauge& sessions;
  core::Counter& login_ok;
  core::Counter& login_failed;
  core::Counter& login_wrong_node;
  core::Counter& login_tempfail;
  core::Counter& store_operations;
  core::Counter& store_microseconds;
  core::Counter& fetched_bytes;
  core::Counter& appended;
  // By command name; "other" for names we do not know.
  std::map<std::string, core::Counter*, std::less<>> commands;
  core::Counter& command(std::string_view name) const;
};

class ImapService final : public NodeService {
 public:
  explicit ImapService(NodeContext& node);
  ~ImapService() override;

  void accept(core::EventLoop& loop, core::Accepted connection) override;
  std::string refusal(core::FlowVerdict verdict) const override;
  void drain(core::EventLoop& loop) override;
  void close_all(core::EventLoop& loop) override;
  std::size_t sessions() const override { return count_.load(); }

  NodeContext& node() { return node_; }
  MailboxHub& hub() { return hub_; }
  const ImapMetrics& metrics() const { return metrics_; }
  // A session's last act: drop it from the registry (runs on its loop).
  void forget(core::EventLoop& loop, Session* session);

 private:
  NodeContext& node_;
  MailboxHub hub_;
  ImapMetrics metrics_;
  mutable std::mutex mutex_;
  std::unordered_map<core::EventLoop*, std::unordered_map<Session*, std::shared_ptr<Session>>>
      sessions_;  // guarded by mutex_
  std::atomic<std::size_t> count_{0};
};

std::unique_ptr<NodeService> make_imap_service(NodeContext& node);

}  // namespace postern::node::imap
