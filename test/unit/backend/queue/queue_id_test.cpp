#include "backend/queue/queue_id.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace postern::node::queue;

TEST_CASE("queue ids: unique, sortable by time, safe as file names") {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 1000; ++i) {
    std::string id = make_queue_id();
    CHECK(is_queue_id(id));
    CHECK(id.size() == 18);
    CHECK(seen.insert(id).second);
    // The first 9 digits are the second of arrival: never going back.
    if (!previous.empty()) CHECK(id.substr(0, 9) >= previous.substr(0, 9));
    previous = id;
  }
}

TEST_CASE("is_queue_id refuses anything that could be a path or another name") {
  CHECK(is_queue_id("0123456789AB"));
  CHECK(is_queue_id("0123456789ABCDEF0123"));
  CHECK_FALSE(is_queue_id(""));
  CHECK_FALSE(is_queue_id("0123456789A"));            // too short
  CHECK_FALSE(is_queue_id("0123456789ABCDEF01234"));  // too long
  CHECK_FALSE(is_queue_id("0123456789abcdef"));       // lower case
  CHECK_FALSE(is_queue_id("../../etc/passwd"));
  CHECK_FALSE(is_queue_id("0123456789AB/CD"));
  CHECK_FALSE(is_queue_id("0123456789ABCDEF.tmp"));
  CHECK_FALSE(is_queue_id(std::string("0123456789AB\0CD", 15)));
}
