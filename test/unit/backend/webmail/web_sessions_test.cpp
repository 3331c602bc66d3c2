#include "backend/webmail/web_sessions.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace postern::node::webmail;
using namespace std::chrono_literals;

TEST_CASE("web sessions: a token finds its session until logout") {
  WebSessions sessions(30min, 12h, 10);
  const auto t0 = WebSessions::Clock::time_point{} + 1h;
  auto s = sessions.create("alice@example.com", "Alice", t0);
  REQUIRE(s);
  CHECK(s->token.size() == 64);
  CHECK(s->csrf.size() == 64);
  CHECK(s->token != s->csrf);
  auto found = sessions.find(s->token, t0 + 1min);
  REQUIRE(found);
  CHECK(found->user == "alice@example.com");
  CHECK(found->display_name == "Alice");
  CHECK(found->csrf == s->csrf);
  CHECK_FALSE(sessions.find(s->token.substr(1) + "0", t0));
  CHECK_FALSE(sessions.find("", t0));
  CHECK(sessions.remove(s->token));
  CHECK_FALSE(sessions.find(s->token, t0 + 2min));
  CHECK_FALSE(sessions.remove(s->token));
}

TEST_CASE("web sessions: tokens are unique and random-looking") {
  WebSessions sessions(30min, 12h, 1000, 1000);
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    auto s = sessions.create("u@example.com", "");
    REQUIRE(s);
    CHECK(seen.insert(s->token).second);
    CHECK(seen.insert(s->csrf).second);
    CHECK(s->token.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  CHECK(sessions.size() == 500);
}

TEST_CASE("web sessions: the idle timeout counts from the last use") {
  WebSessions sessions(30min, 12h, 10);
  const auto t0 = WebSessions::Clock::time_point{} + 1h;
  auto s = sessions.create("alice@example.com", "", t0);
  REQUIRE(s);
  // Used every 20 minutes: alive long past the first 30.
  for (int i = 1; i <= 5; ++i) CHECK(sessions.find(s->token, t0 + i * 20min));
  // 30 idle minutes after the last use: gone, and forgotten.
  CHECK_FALSE(sessions.find(s->token, t0 + 100min + 30min));
  CHECK(sessions.size() == 0);
}

TEST_CASE("web sessions: the absolute timeout ends even a busy session") {
  WebSessions sessions(30min, 2h, 10);
  const auto t0 = WebSessions::Clock::time_point{} + 1h;
  auto s = sessions.create("alice@example.com", "", t0);
  REQUIRE(s);
  auto t = t0;
  for (int i = 0; i < 5; ++i) {
    t += 20min;
    CHECK(sessions.find(s->token, t));
  }
  CHECK_FALSE(sessions.find(s->token, t0 + 2h));
}

TEST_CASE("web sessions: the count is bounded; expired ones make room") {
  WebSessions sessions(30min, 12h, 3);
  const auto t0 = WebSessions::Clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) REQUIRE(sessions.create("u@example.com", "", t0));
  // Once they have expired, a login sweeps them all away.
  auto late = sessions.create("v@example.com", "", t0 + 31min);
  REQUIRE(late);
  CHECK(sessions.size() == 1);
  CHECK(sessions.sweep(t0 + 31min + 30min) == 1);
}

TEST_CASE("web sessions: at the node's cap the least recently used session goes") {
  WebSessions sessions(30min, 12h, 3);
  const auto t0 = WebSessions::Clock::time_point{} + 1h;
  auto a = sessions.create("a@example.com", "", t0);
  auto b = sessions.create("b@example.com", "", t0 + 1s);
  auto c = sessions.create("c@example.com", "", t0 + 2s);
  REQUIRE((a && b && c));
  CHECK(sessions.find(a->token, t0 + 3s));  // a is now more recent than b
  // Full, nothing expired: the login succeeds and b (least recently used) goes.
  auto d = sessions.create("d@example.com", "", t0 + 4s);
  REQUIRE(d);
  CHECK(sessions.size() == 3);
  CHECK_FALSE(sessions.find(b->token, t0 + 5s));
  CHECK(sessions.find(a->token, t0 + 5s));
  CHECK(sessions.find(c->token, t0 + 5s));
  CHECK(sessions.find(d->token, t0 + 5s));
}

TEST_CASE("web sessions: one account cannot lock the others out") {
  WebSessions sessions(30min, 12h, 100, 20);
  const auto t0 = WebSessions::Clock::time_point{} + 1h;
  auto bob = sessions.create("bob@example.com", "", t0);
  REQUIRE(bob);
  std::vector<std::string> mallory;
  for (int i = 0; i < 500; ++i) {
    auto s = sessions.create("mallory@example.com", "", t0 + std::chrono::seconds(i + 1));
    REQUIRE(s);
    mallory.push_back(s->token);
  }
  // Mallory holds her 20 newest sessions; bob's is untouched and logins go on.
  CHECK(sessions.size() == 21);
  CHECK(sessions.find(bob->token, t0 + 10min));
  CHECK_FALSE(sessions.find(mallory[479], t0 + 10min));
  CHECK(sessions.find(mallory[480], t0 + 10min));
  CHECK(sessions.find(mallory.back(), t0 + 10min));
  CHECK(sessions.create("carol@example.com", "", t0 + 11min));
  // The user's least recently used one goes first, not the oldest created.
  CHECK(sessions.find(mallory[481], t0 + 12min));
  REQUIRE(sessions.create("mallory@example.com", "", t0 + 13min));
  CHECK(sessions.find(mallory[481], t0 + 14min));
  CHECK_FALSE(sessions.find(mallory[482], t0 + 14min));
}

TEST_CASE("web sessions: the live gauge follows logins, logouts and expiries") {
  postern::core::Gauge live;
  WebSessions sessions(30min, 12h, 10);
  sessions.set_gauge(&live);
  const auto t0 = WebSessions::Clock::time_point{} + 1h;
  auto a = sessions.create("a@example.com", "", t0);
  auto b = sessions.create("b@example.com", "", t0);
  auto c = sessions.create("c@example.com", "", t0 + 20min);
  REQUIRE((a && b && c));
  CHECK(live.value() == 3);
  CHECK(sessions.remove(c->token));
  CHECK(live.value() == 2);
  // A lookup that finds its session expired drops it and the count.
  CHECK_FALSE(sessions.find(a->token, t0 + 31min));
  CHECK(live.value() == 1);
  CHECK(sessions.sweep(t0 + 31min) == 1);
  CHECK(live.value() == 0);
}

TEST_CASE("web sessions: csrf check") {
  WebSessions sessions(30min, 12h, 10);
  auto s = sessions.create("alice@example.com", "");
  REQUIRE(s);
  CHECK(WebSessions::csrf_matches(*s, s->csrf));
  CHECK_FALSE(WebSessions::csrf_matches(*s, ""));
  CHECK_FALSE(WebSessions::csrf_matches(*s, s->token));
  std::string wrong = s->csrf;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  CHECK_FALSE(WebSessions::csrf_matches(*s, wrong));
  CHECK_FALSE(WebSessions::csrf_matches(*s, s->csrf + "0"));
}
