#include "proxy/node_pool.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace postern::proxy {

class NodePool::Entry final : public core::Connection::Handler {
 public:
  Entry(NodePool& pool, std::string k, std::unique_ptr<core::Connection> c, std::string p)
      : pool_(pool), key(std::move(k)), conn(std::move(c)), pending(std::move(p)) {
    conn->set_handler(this);
  }
  ~Entry() override {
    if (conn) conn->set_handler(nullptr);
  }

  // Anything from an idle node (a BYE before it stops, a stray response):
  // the connection is no longer known to be clean.
  void on_input(core::Connection&) noexcept override { pool_.drop(this); }
  void on_closed(core::Connection&, core::CloseReason) noexcept override { pool_.drop(this); }

  NodePool& pool_;
  std::string key;
  std::unique_ptr<core::Connection> conn;
  std::string pending;
};

NodePool::NodePool(core::EventLoop& loop, core::Counter& reused, core::Counter& kept,
                   core::Gauge& idle)
    : loop_(loop), reused_(reused), kept_(kept), idle_(idle) {}

NodePool::~NodePool() {
  clear();
}

NodePool::Kept NodePool::take(const std::string& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return {};
  auto& list = it->second;
  while (!list.empty()) {
    std::unique_ptr<Entry> e = std::move(list.back());
    list.pop_back();
    --count_;
    idle_.add(-1);
    std::unique_ptr<core::Connection> c = std::move(e->conn);
    c->set_handler(nullptr);
    if (c->closed() || c->input_size() > 0) continue;
    reused_.inc();
    return {std::move(c), std::move(e->pending)};
  }
  return {};
}

void NodePool::put(const std::string& key, std::unique_ptr<core::Connection> c, std::string pending,
                   std::size_t max_idle, std::chrono::milliseconds idle_timeout) {
  auto discard = [this](std::unique_ptr<core::Connection> gone) {
    if (!gone) return;
    gone->set_handler(nullptr);
    if (!gone->closed()) gone->close();
    // Freed on the next turn: we may be inside one of its callbacks.
    loop_.post([g = std::shared_ptr<core::Connection>(std::move(gone))] {});
  };
  if (!c || c->closed() || c->input_size() > 0 || c->output_pending() > 0)
    return discard(std::move(c));
  auto& list = by_key_[key];
  if (list.size() >= max_idle) return discard(std::move(c));
  c->set_idle_timeout(idle_timeout);
  c->resume_reading();
  list.push_back(std::make_unique<Entry>(*this, key, std::move(c), std::move(pending)));
  ++count_;
  kept_.inc();
  idle_.add(1);
}

void NodePool::drop(Entry* e) {
  auto it = by_key_.find(e->key);
  if (it == by_key_.end()) return;
  auto& list = it->second;
  auto pos = std::find_if(list.begin(), list.end(), [e](const auto& p) { return p.get() == e; });
  if (pos == list.end()) return;
  std::shared_ptr<Entry> gone(std::move(*pos));
  list.erase(pos);
  --count_;
  idle_.add(-1);
  gone->conn->set_handler(nullptr);
  if (!gone->conn->closed()) gone->conn->close();
  // Freed on the next turn: we are inside one of its connection's callbacks.
  loop_.post([gone] {});
}

void NodePool::clear() {
  for (auto& [key, list] : by_key_) {
    for (auto& e : list) {
      e->conn->set_handler(nullptr);
      e->conn->close();
      idle_.add(-1);
    }
  }
  by_key_.clear();
  count_ = 0;
}

NodePools::NodePools(core::MetricsRegistry& r)
    : reused_(r.counter("postern_proxy_node_connections_reused_total",
                        "Logins handed to a kept (logged-out) node connection")),
      kept_(r.counter("postern_proxy_node_connections_kept_total",
                      "Node connections kept for reuse after a LOGOUT")),
      idle_(r.gauge("postern_proxy_node_connections_idle", "Kept node connections now")) {}

NodePool& NodePools::of(core::EventLoop& loop) {
  std::lock_guard guard(mutex_);
  auto& p = by_loop_[&loop];
  if (!p) p = std::make_unique<NodePool>(loop, reused_, kept_, idle_);
  return *p;
}

}  // namespace postern::proxy
