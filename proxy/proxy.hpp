// The postern-proxy process: its loops, listeners, sessions' shared context,
// node health probes and admin server, started by the constructor.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "core/admin_server.hpp"
#include "core/event_loop.hpp"
#include "core/listener.hpp"
#include "core/metrics.hpp"
#include "proxy/proxy_context.hpp"
#include "proxy/proxy_service.hpp"

namespace postern::proxy {

class Proxy {
 public:
  // Binds every listener; throws core::ConfigError when one cannot be bound.
  explicit Proxy(ProxyConfig config);
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;
  ~Proxy();

  const ProxyConfig& config() const { return *config_; }
  // SIGHUP: the node table, the directory (and its maps), the SMTP settings,
  // the throttle and the log settings from `fresh`, for new sessions;
  // sessions in progress keep what they started with. Listener changes need
  // a restart (logged). Thread-safe.
  void reload(ProxyConfig fresh);
  // Stops accepting; sessions before their hand-off end, pumped ones go on.
  void drain();
  std::size_t sessions() const;

 private:
  void on_every_loop(const std::function<void(std::size_t, core::EventLoop&)>& fn);
  void publish_cache_stats();

  std::shared_ptr<const ProxyConfig> config_;  // the listeners' configuration lives here
  core::MetricsRegistry metrics_;
  std::unique_ptr<NodeHealth> health_;
  std::unique_ptr<LoginThrottle> throttle_;
  std::unique_ptr<ProxyContext> context_;
  std::map<std::string, std::unique_ptr<ProtocolService>> services_;
  std::vector<std::unique_ptr<core::LoopThread>> loops_;
  std::vector<std::vector<std::unique_ptr<core::Listener>>> listeners_;  // per loop
  std::unique_ptr<core::AdminServer> admin_;
  std::unique_ptr<core::Timer> stats_timer_;  // on loop 0
  std::uint64_t last_hits_ = 0;
  std::uint64_t last_misses_ = 0;
};

}  // namespace postern::proxy
