// Routing lookups through the cache: TTLs, stale answers, one request per
// key, eviction, invalidation, threads.
#include "mapping/caching_directory.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/unit/mapping/caching_rig.hpp"

namespace postern::mapping {

using namespace caching_testing;
using namespace std::chrono_literals;

TEST_CASE("caching directory: a found entry is served from the cache within its TTL") {
  Rig rig;
  Answers<LookupResult> a;
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  REQUIRE(rig.fake.lookups.size() == 1);
  CHECK(rig.fake.lookups[0].login == "alice@example.com");
  CHECK(rig.fake.lookups[0].reply == &rig.loop);
  rig.fake.answer_lookup(0, found("alice@example.com"));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == LookupStatus::Found);

  rig.clock.advance(9s);
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  CHECK(rig.fake.lookups.size() == 1);
  rig.loop.run_all();
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].status == LookupStatus::Found);
  CHECK(a.got[1].account.node == "node1");
  CHECK_FALSE(a.got[1].stale);
  auto s = rig.cache.stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 1);
  CHECK(s.entries == 1);
}

TEST_CASE("caching directory: an expired entry asks the source again") {
  Rig rig;
  rig.prime("alice@example.com", found("alice@example.com", "node1"));
  rig.clock.advance(10s);
  Answers<LookupResult> a;
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  REQUIRE(rig.fake.lookups.size() == 2);
  rig.fake.answer_lookup(1, found("alice@example.com", "node2"));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].account.node == "node2");
  // The new answer is what the cache holds now.
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  rig.loop.run_all();
  CHECK(rig.fake.lookups.size() == 2);
  CHECK(a.got.at(1).account.node == "node2");
}

TEST_CASE("caching directory: a negative entry lives for its own TTL") {
  Rig rig;
  rig.prime("ghost@example.com", lookup_status(LookupStatus::NotFound));
  Answers<LookupResult> a;
  rig.clock.advance(1s);
  rig.cache.lookup("ghost@example.com", rig.loop, a.callback());
  rig.loop.run_all();
  CHECK(rig.fake.lookups.size() == 1);
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == LookupStatus::NotFound);

  rig.clock.advance(1s);  // 2 s: past negative_ttl, far from positive_ttl
  rig.cache.lookup("ghost@example.com", rig.loop, a.callback());
  CHECK(rig.fake.lookups.size() == 2);
}

TEST_CASE("caching directory: TempFail is never cached") {
  Rig rig;
  Answers<LookupResult> a;
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  rig.fake.answer_lookup(0, lookup_status(LookupStatus::TempFail));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == LookupStatus::TempFail);
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  CHECK(rig.fake.lookups.size() == 2);
  CHECK(rig.cache.stats().entries == 0);
}

TEST_CASE("caching directory: an expired entry is served stale on TempFail within stale_ttl") {
  Rig rig;
  rig.prime("alice@example.com", found("alice@example.com"));
  Answers<LookupResult> a;

  rig.clock.advance(10s + 59s);  // expired 59 s ago; stale_ttl is 60 s
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  REQUIRE(rig.fake.lookups.size() == 2);
  rig.fake.answer_lookup(1, lookup_status(LookupStatus::TempFail));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == LookupStatus::Found);
  CHECK(a.got[0].stale);
  CHECK(a.got[0].account.node == "node1");
  CHECK(rig.cache.stats().stale_served == 1);

  rig.clock.advance(1s);  // expired 60 s ago: too old even to serve stale
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  REQUIRE(rig.fake.lookups.size() == 3);
  rig.fake.answer_lookup(2, lookup_status(LookupStatus::TempFail));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].status == LookupStatus::TempFail);
  CHECK_FALSE(a.got[1].stale);
  CHECK(rig.cache.stats().stale_served == 1);
}

TEST_CASE("caching directory: an expired negative entry is never served stale") {
  // "No such account" from the cache while the source is down would turn a
  // temporary failure into a permanent one (a bounce, a refused login).
  Rig rig;
  rig.prime("ghost@example.com", lookup_status(LookupStatus::NotFound));
  Answers<LookupResult> a;
  rig.clock.advance(3s);  // past negative_ttl (2 s), well within stale_ttl
  rig.cache.lookup("ghost@example.com", rig.loop, a.callback());
  REQUIRE(rig.fake.lookups.size() == 2);
  rig.fake.answer_lookup(1, lookup_status(LookupStatus::TempFail));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].status == LookupStatus::TempFail);
  CHECK(rig.cache.stats().stale_served == 0);
}

TEST_CASE("caching directory: one source request per key however many callers wait") {
  Rig rig;
  std::vector<ManualExecutor> loops(10);
  std::vector<Answers<LookupResult>> answers(10);
  for (std::size_t i = 0; i < loops.size(); ++i) {
    rig.cache.lookup("alice@example.com", loops[i], answers[i].callback());
  }
  REQUIRE(rig.fake.lookups.size() == 1);
  CHECK(rig.fake.lookups[0].reply == &loops[0]);  // the first caller's executor
  CHECK(rig.cache.stats().inflight_joined == 9);

  rig.fake.answer_lookup(0, found("alice@example.com"));
  for (auto& l : loops) l.run_all();
  for (std::size_t i = 0; i < loops.size(); ++i) {
    REQUIRE(answers[i].got.size() == 1);
    CHECK(answers[i].got[0].status == LookupStatus::Found);
    CHECK(answers[i].where[0] == &loops[i]);
  }
  CHECK(rig.fake.lookups.size() == 1);
}

TEST_CASE("caching directory: different keys are separate requests") {
  Rig rig;
  Answers<LookupResult> a;
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  rig.cache.lookup("bob@example.com", rig.loop, a.callback());
  REQUIRE(rig.fake.lookups.size() == 2);
  rig.fake.answer_lookup(1, found("bob@example.com", "node2"));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].account.node == "node2");
  rig.fake.answer_lookup(0, found("alice@example.com", "node1"));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 2);
  CHECK(a.got[1].account.node == "node1");
  CHECK(rig.cache.stats().inflight_joined == 0);
}

TEST_CASE("caching directory: keys ignore case and complete the primary domain") {
  Rig rig;
  Answers<LookupResult> a;
  rig.cache.lookup("Alice@Example.COM", rig.loop, a.callback());
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  rig.cache.lookup("alice", rig.loop, a.callback());
  REQUIRE(rig.fake.lookups.size() == 1);
  CHECK(rig.fake.lookups[0].login == "alice@example.com");
  rig.fake.answer_lookup(0, found("alice@example.com"));
  rig.loop.run_all();
  CHECK(a.got.size() == 3);

  rig.cache.lookup("ALICE", rig.loop, a.callback());
  rig.loop.run_all();
  CHECK(rig.fake.lookups.size() == 1);
  REQUIRE(a.got.size() == 4);
  CHECK(a.got[3].status == LookupStatus::Found);
}

TEST_CASE("caching directory: an unparsable login is NotFound without asking the source") {
  Rig rig;
  Answers<LookupResult> a;
  rig.cache.lookup("", rig.loop, a.callback());
  rig.cache.lookup("a b@example.com", rig.loop, a.callback());
  rig.cache.lookup("alice@", rig.loop, a.callback());
  CHECK(a.got.empty());
  rig.loop.run_all();
  REQUIRE(a.got.size() == 3);
  for (const auto& r : a.got) CHECK(r.status == LookupStatus::NotFound);
  CHECK(rig.fake.lookups.empty());
}

TEST_CASE("caching directory: the least recently used entry is evicted, not the oldest") {
  auto config = test_config();
  config.max_entries = 3;
  Rig rig(config);
  rig.prime("a@example.com", found("a@example.com"));
  rig.prime("b@example.com", found("b@example.com"));
  rig.prime("c@example.com", found("c@example.com"));
  rig.prime("a@example.com", found("a@example.com"));  // a hit: a is now the most recent
  REQUIRE(rig.fake.lookups.size() == 3);
  rig.prime("d@example.com", found("d@example.com"));  // evicts b
  CHECK(rig.cache.stats().evictions == 1);
  CHECK(rig.cache.stats().entries == 3);

  rig.prime("a@example.com", found("a@example.com"));
  rig.prime("c@example.com", found("c@example.com"));
  rig.prime("d@example.com", found("d@example.com"));
  CHECK(rig.fake.lookups.size() == 4);
  rig.prime("b@example.com", found("b@example.com"));
  CHECK(rig.fake.lookups.size() == 5);
  CHECK(rig.fake.lookups.back().login == "b@example.com");
}

TEST_CASE("caching directory: invalidate drops the entry and tells the source") {
  Rig rig;
  rig.prime("alice@example.com", found("alice@example.com"));
  rig.cache.invalidate("Alice");
  CHECK(rig.fake.invalidated == std::vector<std::string>{"Alice"});
  CHECK(rig.cache.stats().entries == 0);
  Answers<LookupResult> a;
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  CHECK(rig.fake.lookups.size() == 2);

  // An answer asked for before an invalidation is delivered but not kept.
  rig.cache.invalidate("alice@example.com");
  rig.fake.answer_lookup(1, found("alice@example.com", "old-node"));
  rig.loop.run_all();
  REQUIRE(a.got.size() == 1);
  CHECK(a.got[0].account.node == "old-node");
  rig.cache.lookup("alice@example.com", rig.loop, a.callback());
  CHECK(rig.fake.lookups.size() == 3);
}

TEST_CASE("caching directory: a disabled cache passes every call through") {
  auto config = test_config();
  config.enabled = false;
  Rig rig(config);
  Answers<LookupResult> a;
  for (int i = 0; i < 2; ++i) {
    rig.cache.lookup("Alice", rig.loop, a.callback());
    rig.fake.answer_lookup(rig.fake.lookups.size() - 1, found("alice@example.com"));
    rig.loop.run_all();
  }
  REQUIRE(rig.fake.lookups.size() == 2);
  CHECK(rig.fake.lookups[0].login == "Alice");  // as given: the source parses it
  CHECK(a.got.size() == 2);

  Answers<AuthResult> b;
  for (int i = 0; i < 2; ++i) {
    rig.cache.authenticate("alice", core::Secret("pw"), rig.loop, b.callback());
    rig.fake.answer_auth(rig.fake.auths.size() - 1, auth_ok("alice@example.com"));
    rig.loop.run_all();
  }
  CHECK(rig.fake.auths.size() == 2);
  CHECK(b.got.size() == 2);
  auto s = rig.cache.stats();
  CHECK(s.hits == 0);
  CHECK(s.entries == 0);
}

TEST_CASE("caching directory: is_member passes through") {
  Rig rig;
  Answers<MembershipResult> a;
  auto callback = [&a](MembershipResult r) { a.got.push_back(std::move(r)); };
  for (int i = 0; i < 2; ++i) rig.cache.is_member("uid=alice", "cn=mail", rig.loop, callback);
  REQUIRE(rig.fake.members.size() == 2);
  CHECK(rig.fake.members[0].dn == "uid=alice");
  CHECK(rig.fake.members[0].group == "cn=mail");
  CHECK(rig.fake.members[0].reply == &rig.loop);
}

namespace {

// Answers every lookup from a thread of its own after a short delay.
class ThreadedFake final : public Directory {
 public:
  void lookup(std::string_view login, core::Executor& reply, LookupCallback done) override {
    ++calls;
    worker_.loop().post([login = std::string(login), &reply, done = std::move(done)] {
      std::this_thread::sleep_for(20ms);
      reply.post([login, done] { done(found(login)); });
    });
  }
  void authenticate(std::string_view, core::Secret, core::Executor& reply,
                    AuthCallback done) override {
    reply.post([done] { done(auth_status(AuthStatus::TempFail)); });
  }
  void is_member(std::string_view, std::string_view, core::Executor& reply,
                 MembershipCallback done) override {
    reply.post([done] { done(MembershipResult{}); });
  }

  std::atomic<int> calls{0};

 private:
  core::LoopThread worker_;
};

}  // namespace

TEST_CASE("caching directory: concurrent lookups from many threads share one request") {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::mutex mutex;
  std::condition_variable cv;
  int answered = 0;
  bool all_found = true;
  bool all_on_reply_thread = true;
  std::thread::id reply_thread;
  // Declared after what its tasks use, before the cache that posts to it.
  core::LoopThread reply;
  {
    std::lock_guard lock(mutex);
    reply.loop().post([&] {
      std::lock_guard inner(mutex);
      reply_thread = std::this_thread::get_id();
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    REQUIRE(cv.wait_for(lock, 2s, [&] { return reply_thread != std::thread::id(); }));
  }

  auto owner = std::make_unique<ThreadedFake>();
  ThreadedFake& fake = *owner;
  CachingDirectory cache(std::move(owner), CacheConfig{}, "example.com");
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        cache.lookup(i % 2 == 0 ? "alice" : "Alice@Example.com", reply.loop(), [&](LookupResult r) {
          std::lock_guard lock(mutex);
          all_found = all_found && r.status == LookupStatus::Found;
          all_on_reply_thread = all_on_reply_thread && std::this_thread::get_id() == reply_thread;
          ++answered;
          cv.notify_all();
        });
      }
    });
  }
  for (auto& c : callers) c.join();
  {
    std::unique_lock lock(mutex);
    CHECK(cv.wait_for(lock, 2s, [&] { return answered == kThreads * kPerThread; }));
    CHECK(all_found);
    CHECK(all_on_reply_thread);
  }
  CHECK(fake.calls == 1);
  auto s = cache.stats();
  CHECK(s.hits + s.misses == kThreads * kPerThread);
  CHECK(s.misses == s.inflight_joined + 1);
}

}  // namespace postern::mapping
