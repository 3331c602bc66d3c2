#include "proxy/node_health.hpp"

#include <unistd.h>

#include <optional>
#include <shared_mutex>
#include <vector>

#include "core/connection.hpp"
#include "core/log.hpp"

namespace postern::proxy {

struct NodeHealth::State {
  struct Node {
    // Shared so a probe's completion can flip it after set_nodes() replaced
    // the table.
    std::shared_ptr<std::atomic<bool>> up = std::make_shared<std::atomic<bool>>(true);
    std::optional<core::Endpoint> probe;  // the first configured service
    core::Gauge* gauge = nullptr;
  };

  State(HealthConfig c, core::MetricsRegistry& m) : config(c), metrics(m) {}

  const HealthConfig config;
  core::MetricsRegistry& metrics;

  mutable std::shared_mutex mutex;  // guards `nodes` (the map, not the flags)
  std::map<std::string, Node, std::less<>> nodes;

  // Loop-only: the probe timer and the probes in flight, by node (a null
  // handle means its completion is already posted).
  core::EventLoop* loop = nullptr;
  std::unique_ptr<core::Timer> timer;
  std::map<std::string, std::unique_ptr<core::PendingConnect>> probes;

  core::Gauge& gauge_for(const std::string& name) {
    return metrics.gauge("postern_proxy_node_up", "1 while this proxy considers the node up",
                         {{"node", name}});
  }

  // Flips a node's flag; logs and updates the gauge only on a transition.
  void mark(std::string_view name, bool up, std::string_view reason) {
    std::shared_lock lock(mutex);
    auto it = nodes.find(name);
    if (it == nodes.end()) return;
    bool expected = !up;
    if (!it->second.up->compare_exchange_strong(expected, up)) return;
    it->second.gauge->set(up ? 1 : 0);
    if (up) {
      core::log_info("node_up").kv("node", name);
    } else {
      core::log_warn("node_down").kv("node", name).kv("reason", reason);
    }
  }
};

namespace {

// Any listening service shows the node's process is back; IMAP first
// because every node serves it.
std::optional<core::Endpoint> probe_endpoint(const NodeEndpoints& n) {
  for (const char* service : {"imap", "pop3", "smtp", "submission", "http"}) {
    auto it = n.services.find(service);
    if (it != n.services.end()) return it->second;
  }
  return std::nullopt;
}

}  // namespace

NodeHealth::NodeHealth(HealthConfig config, core::MetricsRegistry& metrics)
    : state_(std::make_shared<State>(config, metrics)) {}

NodeHealth::~NodeHealth() {
  stop();
}

void NodeHealth::set_nodes(const std::map<std::string, NodeEndpoints>& nodes) {
  std::unique_lock lock(state_->mutex);
  for (auto it = state_->nodes.begin(); it != state_->nodes.end();) {
    it = nodes.count(it->first) == 0 ? state_->nodes.erase(it) : std::next(it);
  }
  for (const auto& [name, endpoints] : nodes) {
    auto [it, inserted] = state_->nodes.try_emplace(name);
    it->second.probe = probe_endpoint(endpoints);
    if (inserted) {
      it->second.gauge = &state_->gauge_for(name);
      it->second.gauge->set(1);
    }
  }
}

bool NodeHealth::is_up(std::string_view node) const {
  std::shared_lock lock(state_->mutex);
  auto it = state_->nodes.find(node);
  return it == state_->nodes.end() || it->second.up->load(std::memory_order_relaxed);
}

void NodeHealth::report_failure(std::string_view node, std::string_view reason) {
  state_->mark(node, false, reason);
}

void NodeHealth::report_success(std::string_view node) {
  state_->mark(node, true, "");
}

void NodeHealth::start(core::EventLoop& loop) {
  stop();
  state_->loop = &loop;
  state_->timer = std::make_unique<core::Timer>(loop, [this] {
    probe_due();
    state_->timer->arm(state_->config.probe_interval);
  });
  state_->timer->arm(state_->config.probe_interval);
}

void NodeHealth::stop() {
  state_->timer.reset();
  state_->probes.clear();  // cancels the connects in flight
  state_->loop = nullptr;
}

void NodeHealth::probe_due() {
  auto& s = *state_;
  std::vector<std::pair<std::string, core::Endpoint>> due;
  {
    std::shared_lock lock(s.mutex);
    for (const auto& [name, node] : s.nodes) {
      if (node.up->load() || !node.probe || s.probes.count(name) != 0) continue;
      due.emplace_back(name, *node.probe);
    }
  }
  for (auto& [name, endpoint] : due) {
    std::weak_ptr<State> weak = state_;
    // connect_tcp may fail at once and post the completion instead of
    // returning a handle: the entry (null) still marks the probe in flight.
    auto& slot = s.probes[name];
    slot = core::connect_tcp(
        *s.loop, endpoint, s.config.probe_timeout,
        [weak, name = name](int fd, const std::string& error) {
          if (fd >= 0) ::close(fd);
          auto state = weak.lock();
          if (!state) return;
          state->probes.erase(name);  // destroys the handle that called us: fine, done was moved
          if (fd >= 0) {
            state->mark(name, true, "");
          } else {
            core::log_debug("node_probe").kv("node", name).kv("error", error);
          }
        });
  }
}

}  // namespace postern::proxy
