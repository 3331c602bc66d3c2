// The admin listener: GET /metrics (Prometheus text) and GET /health, on one
// loop, with libevent's evhttp, plus the POST actions the process registers
// (POST /queue/flush: posternctl queue flush). Everything else is 404.
#pragma once

#include <functional>
#include <map>
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

  // POST `path` (e.g. "/queue/flush") runs `action` on the server's loop and
  // answers 200 with the text it returns. `action` must not block. Register
  // before requests arrive (on the server's loop, or before it runs).
  void add_action(const std::string& path, std::function<std::string()> action);

 private:
  static void on_request(evhttp_request* req, void* self) noexcept;
  const MetricsRegistry& metrics_;
  std::map<std::string, std::function<std::string()>> actions_;
  evhttp* http_ = nullptr;
};

}  // namespace postern::core
