// Logged-out node connections kept for the next login to the same node
// (issue 5: a proxied IMAP login then costs no TCP handshake, no node
// greeting and no close on either side).
//
// A connection enters only clean: the node confirmed UNAUTHENTICATE
// (RFC 8437) with nothing after it, so it is in the not-authenticated state
// with no user, mailbox or enabled extension left (the node's side of the
// contract, backend/imap). While kept, the pool is its handler: any byte
// from the node (a BYE when it stops), a close or the idle timeout drops
// it. A session takes the most recently kept one (LIFO: the others age out
// first when load falls).
//
// One pool per event loop (connections belong to their loop); NodePools
// finds the loop's own. Keys name the node and the configuration generation
// it was connected under, so a reload never hands a session a connection
// made with the old TLS settings or address.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/connection.hpp"
#include "core/event_loop.hpp"
#include "core/metrics.hpp"

namespace postern::proxy {

class NodePool {
 public:
  NodePool(core::EventLoop& loop, core::Counter& reused, core::Counter& kept, core::Gauge& idle);
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;
  ~NodePool();

  struct Kept {
    std::unique_ptr<core::Connection> conn;
    // To send before anything else (IMAP: the last user's UNAUTHENTICATE),
    // and see succeed before trusting the connection; empty when clean.
    std::string pending;
    explicit operator bool() const { return conn != nullptr; }
  };
  // A kept connection for `key`, or a false Kept. The caller becomes its
  // handler.
  Kept take(const std::string& key);
  // Keeps `c` (idle: not authenticated, or with `pending` to send first) for
  // `idle_timeout`, unless `key` already holds `max_idle` connections: then
  // it is closed.
  void put(const std::string& key, std::unique_ptr<core::Connection> c, std::string pending,
           std::size_t max_idle, std::chrono::milliseconds idle_timeout);
  // Closes every kept connection (drain, shutdown).
  void clear();
  std::size_t size() const { return count_; }

 private:
  class Entry;
  void drop(Entry* e);

  core::EventLoop& loop_;
  core::Counter& reused_;
  core::Counter& kept_;
  core::Gauge& idle_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Entry>>> by_key_;
  std::size_t count_ = 0;
};

// The pools of every loop of the proxy.
class NodePools {
 public:
  explicit NodePools(core::MetricsRegistry& registry);
  // On `loop`.
  NodePool& of(core::EventLoop& loop);

 private:
  core::Counter& reused_;
  core::Counter& kept_;
  core::Gauge& idle_;
  std::mutex mutex_;
  std::map<core::EventLoop*, std::unique_ptr<NodePool>> by_loop_;
};

}  // namespace postern::proxy
