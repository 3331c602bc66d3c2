// ProxyMetrics (declared in proxy_context.hpp): the metric names in one place.
// The registry returns the same object for the same name and labels, and its
// references stay valid, so the series of the proxy's own protocols are
// looked up once here.
#include "proxy/proxy_config.hpp"
#include "proxy/proxy_context.hpp"

namespace postern::proxy {

namespace {

core::Gauge& active_gauge(core::MetricsRegistry& r, std::string_view proto) {
  return r.gauge("postern_proxy_sessions_active", "Client sessions open now",
                 {{"proto", std::string(proto)}});
}

core::Counter& sessions_counter(core::MetricsRegistry& r, std::string_view proto) {
  return r.counter("postern_proxy_sessions_total", "Client sessions accepted",
                   {{"proto", std::string(proto)}});
}

core::Counter& logins_counter(core::MetricsRegistry& r, std::string_view proto,
                              std::string_view result) {
  return r.counter("postern_proxy_logins_total", "Logins by result",
                   {{"proto", std::string(proto)}, {"result", std::string(result)}});
}

core::Counter& bytes_counter(core::MetricsRegistry& r, std::string_view proto,
                             std::string_view direction) {
  return r.counter("postern_proxy_bytes_total",
                   "Bytes pumped between clients and nodes (in: client to node)",
                   {{"proto", std::string(proto)}, {"direction", std::string(direction)}});
}

}  // namespace

ProxyMetrics::ProxyMetrics(core::MetricsRegistry& r) : registry(r) {
  for (const std::string& proto : proxy_protocols()) {
    Series s;
    s.active = &active_gauge(r, proto);
    s.sessions = &sessions_counter(r, proto);
    s.bytes_in = &bytes_counter(r, proto, "in");
    s.bytes_out = &bytes_counter(r, proto, "out");
    for (const char* result : {"ok", "denied", "tempfail", "unavailable"})
      s.logins.emplace(result, &logins_counter(r, proto, result));
    series_.emplace(proto, std::move(s));
  }
}

const ProxyMetrics::Series* ProxyMetrics::find(std::string_view proto) const {
  auto it = series_.find(proto);
  return it == series_.end() ? nullptr : &it->second;
}

core::Gauge& ProxyMetrics::active(std::string_view proto) {
  if (const Series* s = find(proto)) return *s->active;
  return active_gauge(registry, proto);
}

core::Counter& ProxyMetrics::sessions(std::string_view proto) {
  if (const Series* s = find(proto)) return *s->sessions;
  return sessions_counter(registry, proto);
}

core::Counter& ProxyMetrics::logins(std::string_view proto, std::string_view result) {
  if (const Series* s = find(proto)) {
    if (auto it = s->logins.find(result); it != s->logins.end()) return *it->second;
  }
  return logins_counter(registry, proto, result);
}

core::Counter& ProxyMetrics::bytes(std::string_view proto, std::string_view direction) {
  if (const Series* s = find(proto)) {
    if (direction == "in") return *s->bytes_in;
    if (direction == "out") return *s->bytes_out;
  }
  return bytes_counter(registry, proto, direction);
}

}  // namespace postern::proxy
