// The admin listener: GET /metrics (Prometheus text) and GET /health, on one
// loop, with libevent's evhttp. Everything else is 404; it serves no state
// that changes anything.
#pragma once

#include <functional>
#include <string>

#include "core/event_loop.hpp"
#include "core/metrics.hpp"
#include "core/net_address.hpp"

struct evhttp;
struct evhttp_request;

namespace postern::core {

class AdminServer {
 public:
  // Binds at once; throws ConfigError(file, key) when it cannot.
  AdminServer(EventLoop& loop, const Endpoint& address, const MetricsRegistry& metrics,
              const std::string& file, const std::string& key);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  ~AdminServer();

 private:
  static void on_request(evhttp_request* req, void* self) noexcept;
  const MetricsRegistry& metrics_;
  evhttp* http_ = nullptr;
};

}  // namespace postern::core
