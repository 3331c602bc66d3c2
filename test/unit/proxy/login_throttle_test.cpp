#include "proxy/login_throttle.hpp"

#include <doctest/doctest.h>

#include <string>

using postern::core::IpAddress;
using postern::proxy::LoginThrottle;
using postern::proxy::ThrottleConfig;
using namespace std::chrono_literals;

namespace {

ThrottleConfig config(std::size_t max_keys = 1000) {
  ThrottleConfig c;
  c.base_delay = 100ms;
  c.max_delay = 1000ms;
  c.forget_after = 60s;
  c.max_keys = max_keys;
  return c;
}

IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}

const LoginThrottle::Clock::time_point t0{std::chrono::hours(1)};

}  // namespace

TEST_CASE("throttle: each failure doubles the delay, up to max_delay") {
  LoginThrottle t(config());
  const auto a = ip("192.0.2.1");
  CHECK(t.delay(a, "alice@example.com", t0) == 0ms);
  t.failed(a, "alice@example.com", t0);
  CHECK(t.delay(a, "alice@example.com", t0) == 100ms);
  t.failed(a, "alice@example.com", t0);
  CHECK(t.delay(a, "alice@example.com", t0) == 200ms);
  t.failed(a, "alice@example.com", t0);
  CHECK(t.delay(a, "alice@example.com", t0) == 400ms);
  for (int i = 0; i < 100; ++i) t.failed(a, "alice@example.com", t0);
  CHECK(t.delay(a, "alice@example.com", t0) == 1000ms);
}

TEST_CASE("throttle: the address and the login each count; the larger delay applies") {
  LoginThrottle t(config());
  const auto guesser = ip("192.0.2.1");
  // One address guessing many logins: slowed for a login it never tried.
  t.failed(guesser, "a@example.com", t0);
  t.failed(guesser, "b@example.com", t0);
  t.failed(guesser, "c@example.com", t0);
  CHECK(t.delay(guesser, "d@example.com", t0) == 400ms);
  CHECK(t.delay(ip("192.0.2.2"), "d@example.com", t0) == 0ms);
  // Many addresses guessing one login: a fresh address is slowed for it.
  for (int i = 1; i <= 4; ++i)
    t.failed(ip(("198.51.100." + std::to_string(i)).c_str()), "Bob@Example.com", t0);
  CHECK(t.delay(ip("203.0.113.9"), "bob@example.com", t0) == 800ms);
  CHECK(t.delay(ip("203.0.113.9"), "BOB@EXAMPLE.COM", t0) == 800ms);
  CHECK(t.delay(ip("198.51.100.1"), "", t0) == 100ms);  // no login known yet
}

TEST_CASE("throttle: a success clears the login, not the address") {
  LoginThrottle t(config());
  const auto a = ip("2001:db8::1");
  t.failed(a, "alice@example.com", t0);
  t.failed(a, "alice@example.com", t0);
  t.failed(ip("2001:db8::2"), "alice@example.com", t0);
  t.succeeded("ALICE@example.com");
  CHECK(t.delay(ip("2001:db8::3"), "alice@example.com", t0) == 0ms);
  CHECK(t.delay(a, "carol@example.com", t0) == 200ms);
}

TEST_CASE("throttle: a key with no failure for forget_after is forgotten") {
  LoginThrottle t(config());
  const auto a = ip("192.0.2.1");
  t.failed(a, "alice@example.com", t0);
  t.failed(a, "alice@example.com", t0 + 10s);
  CHECK(t.delay(a, "alice@example.com", t0 + 69s) == 200ms);  // 59 s after the last
  CHECK(t.delay(a, "alice@example.com", t0 + 70s) == 0ms);
  // A failure after that starts again from the first delay.
  t.failed(a, "alice@example.com", t0 + 71s);
  CHECK(t.delay(a, "alice@example.com", t0 + 71s) == 100ms);
  // Forgotten keys are dropped as later failures arrive.
  CHECK(t.keys() == 2);
  t.failed(ip("192.0.2.2"), "", t0 + 200s);
  CHECK(t.keys() == 1);
}

TEST_CASE("throttle: at most max_keys keys; the least recently failed go first") {
  LoginThrottle t(config(100));
  for (int i = 0; i < 300; ++i) {
    t.failed(ip(("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256)).c_str()), "",
             t0 + std::chrono::milliseconds(i));
    CHECK(t.keys() <= 100);
  }
  CHECK(t.keys() == 100);
  CHECK(t.delay(ip("10.0.0.0"), "", t0 + 1s) == 0ms);     // evicted
  CHECK(t.delay(ip("10.0.1.43"), "", t0 + 1s) == 100ms);  // the 300th: kept
  t.reconfigure(config(10));
  CHECK(t.keys() == 10);
  CHECK(t.delay(ip("10.0.1.43"), "", t0 + 1s) == 100ms);
  CHECK(t.delay(ip("10.0.1.33"), "", t0 + 1s) == 0ms);
}
