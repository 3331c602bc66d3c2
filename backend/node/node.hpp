// One back-end node: its loops, listeners, services, store, directory and
// admin server, started by the constructor.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <vector>

#include "backend/node/node_config.hpp"
#include "backend/node/node_service.hpp"
#include "backend/queue/queue.hpp"
#include "core/admin_server.hpp"
#include "core/event_loop.hpp"
#include "core/listener.hpp"
#include "core/metrics.hpp"
#include "core/worker_pool.hpp"

namespace postern::node {

class Node {
 public:
  // Binds every listener; throws core::ConfigError when one cannot be bound.
  explicit Node(NodeConfig config);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();

  const NodeConfig& config() const { return config_; }
  // Stops accepting and asks every session to finish. Thread-safe.
  void drain();
  std::size_t sessions() const;

 private:
  // Creates the mail queue (after the loops: DSN routing asks the directory
  // on loop 0) and starts it.
  void start_queue();
  // Runs `fn` on every loop and waits for all of them.
  void on_every_loop(const std::function<void(std::size_t, core::EventLoop&)>& fn);
  // On loop 0: every few seconds a worker runs store_->sweep(), which closes
  // the accounts that lingered long enough (store.hpp, LINGER).
  void start_store_sweep(core::EventLoop& loop);

  NodeConfig config_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<mapping::Directory> directory_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<core::WorkerPool> workers_;
  std::unique_ptr<queue::Queue> queue_;
  std::unique_ptr<NodeContext> context_;
  std::map<std::string, std::unique_ptr<NodeService>> services_;
  std::vector<std::unique_ptr<core::LoopThread>> loops_;
  std::vector<std::vector<std::unique_ptr<core::Listener>>> listeners_;  // per loop
  std::unique_ptr<core::AdminServer> admin_;
  std::unique_ptr<core::Timer> store_sweep_;  // loop 0's; null when store_linger is 0
  std::atomic<bool> sweep_queued_{false};     // a sweep waits or runs on a worker
};

}  // namespace postern::node
