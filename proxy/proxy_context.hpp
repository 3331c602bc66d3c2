// What every proxy session shares, owned by the Proxy and outliving every
// session.
//
// The parts a SIGHUP may replace (the node table, the directory, the SMTP
// settings) live in a Generation that a session takes when it starts and
// keeps to its end, so a reload never changes the ground under a session in
// progress; new sessions get the new one.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/connection.hpp"
#include "core/metrics.hpp"
#include "mapping/directory.hpp"
#include "proxy/login_throttle.hpp"
#include "proxy/node_health.hpp"
#include "proxy/node_pool.hpp"
#include "proxy/pipe_pool.hpp"
#include "proxy/proxy_config.hpp"

namespace postern::proxy {

struct Generation {
  std::uint64_t id = 0;  // unique in the process (pool keys)
  std::shared_ptr<const ProxyConfig> config;
  std::shared_ptr<mapping::Directory> directory;
};

// Counters and gauges every session updates (names in proxy_metrics.cpp).
// The series of the proxy's protocols are looked up once, at construction:
// a login then touches only atomics, never the registry's lock. Anything
// else goes to the registry as usual.
struct ProxyMetrics {
  explicit ProxyMetrics(core::MetricsRegistry& registry);
  core::Gauge& active(std::string_view proto);
  core::Counter& sessions(std::string_view proto);
  // result: "ok", "denied", "tempfail", "unavailable" (node down).
  core::Counter& logins(std::string_view proto, std::string_view result);
  // direction: "in" (client to node) or "out" (node to client).
  core::Counter& bytes(std::string_view proto, std::string_view direction);
  core::MetricsRegistry& registry;

 private:
  struct Series {
    core::Gauge* active = nullptr;
    core::Counter* sessions = nullptr;
    core::Counter* bytes_in = nullptr;
    core::Counter* bytes_out = nullptr;
    std::map<std::string, core::Counter*, std::less<>> logins;
  };
  const Series* find(std::string_view proto) const;
  std::map<std::string, Series, std::less<>> series_;  // read-only after construction
};

class ProxyContext {
 public:
  ProxyContext(std::shared_ptr<const Generation> first, NodeHealth& node_health,
               LoginThrottle& login_throttle, core::MetricsRegistry& registry)
      : health(node_health),
        throttle(login_throttle),
        metrics(registry),
        pools(registry),
        generation_(std::move(first)) {}

  std::shared_ptr<const Generation> current() const {
    std::lock_guard lock(mutex_);
    return generation_;
  }
  void replace(std::shared_ptr<const Generation> next) {
    std::lock_guard lock(mutex_);
    generation_ = std::move(next);
  }

  NodeHealth& health;
  LoginThrottle& throttle;
  ProxyMetrics metrics;
  NodePools pools;  // kept IMAP node connections, per loop
  PipePools pipes;  // spliced sessions' pipes, per loop
  std::atomic<bool> draining{false};

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Generation> generation_;
};

// The options of every proxied connection, client or node side, plain or
// TLS: `buffer` bounds each input, half of it is the output's low-water mark;
// sockets are non-blocking already and replies go out at once (a pump waits
// for drains only while an output is full). Defined in proxy_session.cpp.
core::Connection::Options connection_options(std::size_t buffer, std::chrono::milliseconds idle);

}  // namespace postern::proxy
