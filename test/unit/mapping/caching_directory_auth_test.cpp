// Authentication through the cache: verified logins answered from it,
// wrong passwords, stale records on TempFail, callbacks and lifetimes.
#include "mapping/caching_directory.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/unit/mapping/caching_rig.hpp"

namespace postern::mapping {

using namespace caching_testing;
using namespace std::chrono_literals;

TEST_CASE("caching directory: a successful authentication is answered from the cache") {
  Rig rig;
  Answers<AuthResult> a;
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, a.callback());
  REQUIRE(rig.fake.auths.size() == 1);
  CHECK(rig.fake.auths[0].password == "pw");
  rig.fake.answer_auth(0, auth_ok("alice@example.com", "node3"));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == AuthStatus::Ok);

  rig.clock.advance(9s);
  rig.cache.authenticate("Alice@example.com", core::Secret("pw"), rig.loop, a.callback());
  CHECK(rig.fake.auths.size() == 1);
  rig.loop.run_all();
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].status == AuthStatus::Ok);
  CHECK(a.got[1].account.node == "node3");
  CHECK(a.where[1] == &rig.loop);

  // The answer also refreshed the routing entry.
  Answers<LookupResult> l;
  rig.cache.lookup("alice", rig.loop, l.callback());
  rig.loop.run_all();
  CHECK(rig.fake.lookups.empty());
  REQUIRE(l.got.size() == 1);
  CHECK(l.got[0].account.node == "node3");

  // The record expires with positive_ttl.
  rig.clock.advance(1s);
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, a.callback());
  CHECK(rig.fake.auths.size() == 2);
}

TEST_CASE("caching directory: a wrong password goes to the source, and Denied drops the record") {
  Rig rig;
  Answers<AuthResult> a;
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, a.callback());
  rig.fake.answer_auth(0, auth_ok("alice@example.com"));
  rig.loop.run_all();

  rig.cache.authenticate("alice", core::Secret("wrong"), rig.loop, a.callback());
  REQUIRE(rig.fake.auths.size() == 2);
  CHECK(rig.fake.auths[1].password == "wrong");
  rig.fake.answer_auth(1, auth_status(AuthStatus::Denied));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].status == AuthStatus::Denied);
  CHECK(a.got[1].reason == DenyReason::WrongPassword);

  // The password may have changed: the old one is checked by the source again.
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, a.callback());
  CHECK(rig.fake.auths.size() == 3);
}

TEST_CASE("caching directory: two caches used in turn on one thread each keep their own key") {
  // Each thread keeps one keyed HMAC context and keys it again for another
  // cache: interleaved use goes on answering from each cache's records.
  Rig one;
  Rig two;
  Answers<AuthResult> a;
  one.cache.authenticate("alice", core::Secret("pw1"), one.loop, a.callback());
  one.fake.answer_auth(0, auth_ok("alice@example.com"));
  one.loop.run_all();
  two.cache.authenticate("alice", core::Secret("pw2"), two.loop, a.callback());
  two.fake.answer_auth(0, auth_ok("alice@example.com"));
  two.loop.run_all();
  for (int round = 0; round < 3; ++round) {
    one.cache.authenticate("alice", core::Secret("pw1"), one.loop, a.callback());
    two.cache.authenticate("alice", core::Secret("pw2"), two.loop, a.callback());
  }
  CHECK(one.fake.auths.size() == 1);
  CHECK(two.fake.auths.size() == 1);
  // The other cache's password is not this one's.
  one.cache.authenticate("alice", core::Secret("pw2"), one.loop, a.callback());
  CHECK(one.fake.auths.size() == 2);
  // From another thread (its own context), the record still matches.
  std::thread([&] {
    two.cache.authenticate("alice", core::Secret("pw2"), two.loop, a.callback());
  }).join();
  CHECK(two.fake.auths.size() == 1);
  one.loop.run_all();
  two.loop.run_all();
  CHECK(a.got.size() == 9);
}

TEST_CASE("caching directory: auth TempFail is answered from a matching stale record only") {
  Rig rig;
  Answers<AuthResult> a;
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, a.callback());
  rig.fake.answer_auth(0, auth_ok("alice@example.com", "node2"));
  rig.loop.run_all();

  rig.clock.advance(30s);  // past positive_ttl, within positive_ttl + stale_ttl
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, a.callback());
  REQUIRE(rig.fake.auths.size() == 2);
  rig.fake.answer_auth(1, auth_status(AuthStatus::TempFail));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].status == AuthStatus::Ok);
  CHECK(a.got[1].account.node == "node2");
  CHECK(a.got[1].detail.find("stale") != std::string::npos);
  CHECK(rig.cache.stats().stale_served == 1);

  rig.cache.authenticate("alice", core::Secret("wrong"), rig.loop, a.callback());
  REQUIRE(rig.fake.auths.size() == 3);
  rig.fake.answer_auth(2, auth_status(AuthStatus::TempFail));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 3);
  CHECK(a.got[2].status == AuthStatus::TempFail);

  rig.clock.advance(40s);  // 70 s: beyond positive_ttl + stale_ttl
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, a.callback());
  REQUIRE(rig.fake.auths.size() == 4);
  rig.fake.answer_auth(3, auth_status(AuthStatus::TempFail));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 4);
  CHECK(a.got[3].status == AuthStatus::TempFail);
  CHECK(rig.cache.stats().stale_served == 1);
}

TEST_CASE("caching directory: an unparsable login is denied without asking the source") {
  Rig rig;
  Answers<AuthResult> a;
  rig.cache.authenticate("a\r\nb", core::Secret("pw"), rig.loop, a.callback());
  CHECK(a.got.empty());
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == AuthStatus::Denied);
  CHECK(a.got[0].reason == DenyReason::BadLogin);
  CHECK(rig.fake.auths.empty());
}

TEST_CASE("caching directory: no callback runs before its executor does") {
  Rig rig;
  rig.prime("cached@example.com", found("cached@example.com"));
  Answers<AuthResult> auth;
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, auth.callback());
  rig.fake.answer_auth(0, auth_ok("alice@example.com"));
  rig.loop.run_all();

  Answers<LookupResult> a;
  rig.cache.lookup("cached@example.com", rig.loop, a.callback());  // hit
  rig.cache.lookup("new@example.com", rig.loop, a.callback());     // miss
  rig.cache.lookup("new@example.com", rig.loop, a.callback());     // joined
  rig.cache.lookup("bad login", rig.loop, a.callback());           // unparsable
  rig.fake.answer_lookup(rig.fake.lookups.size() - 1, found("new@example.com"));
  rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, auth.callback());  // hit
  CHECK(a.got.empty());
  CHECK(auth.got.size() == 1);
  CHECK(rig.loop.pending() > 0);
  rig.loop.run_all();
  CHECK(a.got.size() == 4);
  CHECK(auth.got.size() == 2);
  for (const auto* where : a.where) CHECK(where == &rig.loop);
}

TEST_CASE("caching directory: answers pending when the cache is destroyed are dropped") {
  ManualClock clock;
  ManualExecutor loop;
  auto owner = std::make_unique<FakeDirectory>();
  FakeDirectory& fake = *owner;
  int called = 0;
  {
    CachingDirectory cache(std::move(owner), test_config(), "example.com",
                           [&clock] { return clock.now; });
    cache.lookup("alice", loop, [&called](LookupResult) { ++called; });
    // The source has answered (posted), but the loop has not run it yet.
    fake.answer_lookup(0, found("alice@example.com"));
  }
  loop.run_all();
  CHECK(called == 0);
}

}  // namespace postern::mapping
