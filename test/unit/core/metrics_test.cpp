#include <doctest/doctest.h>

#include "core/metrics.hpp"

using namespace postern::core;

TEST_CASE("metrics render in the Prometheus text format") {
  MetricsRegistry r;
  r.counter("postern_logins_total", "Logins by result", {{"proto", "imap"}, {"result", "ok"}})
      .inc(3);
  r.counter("postern_logins_total", "Logins by result", {{"proto", "imap"}, {"result", "ok"}})
      .inc();
  r.gauge("postern_sessions", "Open sessions", {{"proto", "pop3"}}).add(2);
  r.counter("postern_odd_total", "Odd labels", {{"v", "a\"b\\c\nd"}}).inc();
  auto text = r.render();
  CHECK(text.find("# TYPE postern_logins_total counter\n") != std::string::npos);
  CHECK(text.find("postern_logins_total{proto=\"imap\",result=\"ok\"} 4\n") != std::string::npos);
  CHECK(text.find("# TYPE postern_sessions gauge\npostern_sessions{proto=\"pop3\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("postern_odd_total{v=\"a\\\"b\\\\c\\nd\"} 1\n") != std::string::npos);
}
