#include <string>

#include "backend/webmail/webmail_context.hpp"

namespace postern::node::webmail {

WebmailMetrics::WebmailMetrics(core::MetricsRegistry& registry)
    : registry_(registry),
      connections_(registry.counter("postern_connections_total", "Connections accepted by service",
                                    {{"service", "http"}})),
      sessions_(
          registry.gauge("postern_sessions", "Open sessions by service", {{"service", "http"}})),
      web_sessions_(registry.gauge("postern_webmail_sessions", "Logged-in WebMail sessions")) {
  for (int status : {200, 204, 304, 400, 401, 403, 404, 405, 413, 415, 421, 500, 503}) {
    by_status_[static_cast<std::size_t>(status)] = &registry.counter(
        "postern_http_requests_total", "HTTP requests answered, by service and status",
        {{"service", "http"}, {"status", std::to_string(status)}});
  }
}

void WebmailMetrics::request(int status) {
  if (status < 100 || status > 599) status = 500;
  auto& slot = by_status_[static_cast<std::size_t>(status)];
  // A status first seen now: the registry's lock once, then the slot. Only
  // statuses this server writes exist, so a client cannot create series.
  core::Counter* counter = slot;
  if (counter == nullptr) {
    counter = &registry_.counter("postern_http_requests_total",
                                 "HTTP requests answered, by service and status",
                                 {{"service", "http"}, {"status", std::to_string(status)}});
  }
  counter->inc();
}

void WebmailMetrics::login(std::string_view result) {
  registry_
      .counter("postern_logins_total", "Logins by service and result",
               {{"service", "webmail"}, {"result", std::string(result)}})
      .inc();
}

}  // namespace postern::node::webmail
