#include <doctest/doctest.h>

#include "proxy/proxy_context.hpp"

using namespace postern;

TEST_CASE("proxy metrics: one object per label set, rendered under the documented names") {
  core::MetricsRegistry registry;
  proxy::ProxyMetrics m(registry);
  m.active("imap").add(2);
  m.active("imap").add(-1);
  m.sessions("imap").inc();
  m.sessions("pop3").inc(2);
  m.logins("imap", "ok").inc();
  m.logins("imap", "denied").inc(3);
  m.bytes("imap", "in").inc(100);
  m.bytes("imap", "out").inc(2000);
  CHECK(&m.logins("imap", "ok") == &m.logins("imap", "ok"));
  CHECK(&m.logins("imap", "ok") != &m.logins("pop3", "ok"));
  const auto text = registry.render();
  INFO(text);
  for (const char* line : {
           "postern_proxy_sessions_active{proto=\"imap\"} 1\n",
           "postern_proxy_sessions_total{proto=\"imap\"} 1\n",
           "postern_proxy_sessions_total{proto=\"pop3\"} 2\n",
           "postern_proxy_logins_total{proto=\"imap\",result=\"ok\"} 1\n",
           "postern_proxy_logins_total{proto=\"imap\",result=\"denied\"} 3\n",
           "postern_proxy_bytes_total{proto=\"imap\",direction=\"in\"} 100\n",
           "postern_proxy_bytes_total{proto=\"imap\",direction=\"out\"} 2000\n",
           "# TYPE postern_proxy_sessions_active gauge\n",
           "# TYPE postern_proxy_bytes_total counter\n",
       }) {
    CHECK_MESSAGE(text.find(line) != std::string::npos, line);
  }
}
