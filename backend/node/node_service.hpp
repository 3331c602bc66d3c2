// What a node's protocol services (IMAP, POP3 ...) share, and the interface
// the node uses to start and drain them.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "backend/node/node_config.hpp"
#include "backend/store/store.hpp"
#include "core/listener.hpp"
#include "core/metrics.hpp"
#include "core/worker_pool.hpp"
#include "mapping/directory.hpp"

namespace postern::node {

namespace queue {
class Queue;
}

// Everything a session may use. Owned by the Node; outlives every session.
struct NodeContext {
  const NodeConfig& config;
  mapping::Directory& directory;
  store::Store& store;
  core::WorkerPool& workers;
  core::MetricsRegistry& metrics;
  std::atomic<bool> draining{false};
  // The mail queue (SMTP receiving hands messages to it); set by the Node.
  queue::Queue* queue = nullptr;
};

class NodeService : public core::Service {
 public:
  // Asks the sessions on `loop` to finish (after the current command, with
  // the protocol's goodbye). Runs on `loop`.
  virtual void drain(core::EventLoop& loop) = 0;
  // Closes the sessions on `loop` at once and forgets them: the node is
  // going and the loop with it. Runs on `loop`.
  virtual void close_all(core::EventLoop& loop) = 0;
  // Open sessions, all loops. Thread-safe.
  virtual std::size_t sessions() const = 0;
};

using ServiceFactory = std::function<std::unique_ptr<NodeService>(NodeContext&)>;

// protocol name -> factory; each protocol's folder registers itself here.
const std::map<std::string, ServiceFactory>& node_services();

}  // namespace postern::node
