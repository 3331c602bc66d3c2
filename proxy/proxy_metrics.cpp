// ProxyMetrics (declared in proxy_context.hpp): the metric names in one place.
// The registry returns the same object for the same name and labels, and its
// references stay valid, so a session may look one up once and keep it.
#include "proxy/proxy_context.hpp"

namespace postern::proxy {

ProxyMetrics::ProxyMetrics(core::MetricsRegistry& r) : registry(r) {}

core::Gauge& ProxyMetrics::active(std::string_view proto) {
  return registry.gauge("postern_proxy_sessions_active", "Client sessions open now",
                        {{"proto", std::string(proto)}});
}

core::Counter& ProxyMetrics::sessions(std::string_view proto) {
  return registry.counter("postern_proxy_sessions_total", "Client sessions accepted",
                          {{"proto", std::string(proto)}});
}

core::Counter& ProxyMetrics::logins(std::string_view proto, std::string_view result) {
  return registry.counter("postern_proxy_logins_total", "Logins by result",
                          {{"proto", std::string(proto)}, {"result", std::string(result)}});
}

core::Counter& ProxyMetrics::bytes(std::string_view proto, std::string_view direction) {
  return registry.counter("postern_proxy_bytes_total",
                          "Bytes pumped between clients and nodes (in: client to node)",
                          {{"proto", std::string(proto)}, {"direction", std::string(direction)}});
}

}  // namespace postern::proxy
