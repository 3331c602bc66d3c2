// The HTTP proxy's service (one per proxy, sessions on every loop) and its
// metrics.
#include "proxy/http_proxy.hpp"

namespace postern::proxy {

namespace hr = http_routing;

HttpProxyMetrics::HttpProxyMetrics(core::MetricsRegistry& r) : registry(r) {
  for (std::string_view c : {"1xx", "2xx", "3xx", "4xx", "5xx", "other"})
    by_class_.emplace(std::string(c), &r.counter("postern_proxy_http_requests_total",
                                                 "HTTP requests answered, by status class",
                                                 {{"class", std::string(c)}}));
  for (std::string_view reason : {"missing", "malformed", "forged", "expired", "unknown_node"})
    rejected_.emplace(std::string(reason),
                      &r.counter("postern_proxy_route_cookie_rejections_total",
                                 "Routing cookies refused (missing on an API request, malformed, "
                                 "forged, expired, naming an unknown node)",
                                 {{"reason", std::string(reason)}}));
}

core::Counter& HttpProxyMetrics::requests(int status) {
  return *by_class_.at(std::string(hr::status_class(status)));
}

core::Counter& HttpProxyMetrics::rejected(std::string_view reason) {
  return *rejected_.at(std::string(reason));
}

HttpProxyService::HttpProxyService(ProxyContext& ctx) : ctx_(ctx), metrics_(ctx.metrics.registry) {}

void HttpProxyService::accept(core::EventLoop& loop, core::Accepted connection) {
  auto ended = sessions_.ended(loop);
  auto session =
      std::make_shared<HttpProxySession>(ctx_, metrics_, loop, std::move(connection),
                                         [this, ended = std::move(ended)](HttpProxySession* s) {
                                           --open_;
                                           ended(s);
                                         });
  ++open_;
  sessions_.add(loop, session);
  session->start();
}

std::string HttpProxyService::refusal(core::FlowVerdict) const {
  return hr::local_response(503, false, "unavailable",
                            "Too many connections. Please try again in a minute.", true);
}

void HttpProxyService::drain(core::EventLoop& loop) {
  sessions_.for_each(loop, [](HttpProxySession& s) { s.drain(); });
}

void HttpProxyService::close_all(core::EventLoop& loop) {
  auto doomed = sessions_.take(loop);
  for (auto& [raw, session] : doomed) session->close("shutdown");
}

}  // namespace postern::proxy
