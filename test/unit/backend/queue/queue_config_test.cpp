#include "backend/queue/queue_config.hpp"

#include <doctest/doctest.h>

#include "core/config.hpp"

using namespace postern;
using namespace postern::node::queue;
using std::chrono::seconds;

TEST_CASE("retry schedule: by attempts, the last wait repeats") {
  QueueConfig c;
  c.retry_schedule = {seconds(1), seconds(5), seconds(30)};
  CHECK(c.retry_delay(1) == seconds(1));
  CHECK(c.retry_delay(2) == seconds(5));
  CHECK(c.retry_delay(3) == seconds(30));
  CHECK(c.retry_delay(4) == seconds(30));
  CHECK(c.retry_delay(1000) == seconds(30));
  CHECK(c.retry_delay(0) == seconds(1));
  c.retry_schedule.clear();
  CHECK(c.retry_delay(3) == seconds(60));
}

TEST_CASE("QueueConfig::from_config: values, defaults and errors naming the key") {
  auto node = core::parse_config_text(
      R"({"queue": {"path": "q", "retry_schedule": [1, 2.5, 60], "max_lifetime": 120,
                    "max_deliveries": 7}})",
      "/etc/postern/node.json");
  auto c = QueueConfig::from_config(node.child("queue"), "/default");
  CHECK(c.path == "/etc/postern/q");
  REQUIRE(c.retry_schedule.size() == 3);
  CHECK(c.retry_schedule[0] == seconds(1));
  CHECK(c.retry_schedule[2] == seconds(60));
  CHECK(c.max_lifetime == seconds(120));
  CHECK(c.max_deliveries == 7);

  auto empty = core::parse_config_text(R"({"queue": {}})", "/etc/postern/node.json");
  auto d = QueueConfig::from_config(empty.child("queue"), "/var/lib/postern/queue");
  CHECK(d.path == "/var/lib/postern/queue");
  CHECK(d.retry_schedule.size() == 4);
  CHECK(d.max_lifetime == seconds(5 * 24 * 3600));

  auto bad = core::parse_config_text(R"({"queue": {"retry_schedule": []}})", "n.json");
  CHECK_THROWS_WITH_AS(QueueConfig::from_config(bad.child("queue"), "/q"),
                       doctest::Contains("queue.retry_schedule"), core::ConfigError);
  auto typo = core::parse_config_text(R"({"queue": {"max_lifetme": 5}})", "n.json");
  CHECK_THROWS_AS(QueueConfig::from_config(typo.child("queue"), "/q"), core::ConfigError);
}
