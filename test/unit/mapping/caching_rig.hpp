// The caching directory's test rig: a fake source answered by hand, an
// executor and a clock the test drives (caching_directory_test.cpp,
// caching_directory_auth_test.cpp).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mapping/caching_directory.hpp"

namespace postern::mapping::caching_testing {

using namespace std::chrono_literals;

// Runs nothing until the test says so, and remembers which executor ran a task.
class ManualExecutor final : public core::Executor {
 public:
  static inline thread_local const ManualExecutor* running = nullptr;

  void post(std::function<void()> task) override {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }

  std::size_t run_all() {
    std::size_t ran = 0;
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard lock(mutex_);
        if (tasks_.empty()) return ran;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      running = this;
      task();
      running = nullptr;
      ++ran;
    }
  }

  std::size_t pending() const {
    std::lock_guard lock(mutex_);
    return tasks_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::deque<std::function<void()>> tasks_;
};

struct ManualClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  void advance(std::chrono::milliseconds d) { now += d; }
};

// Records every call; the test answers it later, posted to the caller's executor.
class FakeDirectory final : public Directory {
 public:
  struct LookupCall {
    std::string login;
    core::Executor* reply;
    LookupCallback done;
  };
  struct AuthCall {
    std::string login;
    std::string password;
    core::Executor* reply;
    AuthCallback done;
  };
  struct MemberCall {
    std::string dn;
    std::string group;
    core::Executor* reply;
    MembershipCallback done;
  };

  void lookup(std::string_view login, core::Executor& reply, LookupCallback done) override {
    lookups.push_back({std::string(login), &reply, std::move(done)});
  }
  void authenticate(std::string_view login, core::Secret password, core::Executor& reply,
                    AuthCallback done) override {
    auths.push_back({std::string(login), std::string(password.reveal()), &reply, std::move(done)});
  }
  void is_member(std::string_view dn, std::string_view group, core::Executor& reply,
                 MembershipCallback done) override {
    members.push_back({std::string(dn), std::string(group), &reply, std::move(done)});
  }
  void invalidate(std::string_view login) override { invalidated.emplace_back(login); }

  void answer_lookup(std::size_t i, LookupResult r) {
    auto& c = lookups.at(i);
    c.reply->post([done = c.done, r] { done(r); });
  }
  void answer_auth(std::size_t i, AuthResult r) {
    auto& c = auths.at(i);
    c.reply->post([done = c.done, r] { done(r); });
  }

  std::vector<LookupCall> lookups;
  std::vector<AuthCall> auths;
  std::vector<MemberCall> members;
  std::vector<std::string> invalidated;
};

inline Account account(std::string address, std::string node) {
  Account a;
  a.address = std::move(address);
  a.node = std::move(node);
  return a;
}

inline LookupResult found(std::string address, std::string node = "node1") {
  LookupResult r;
  r.status = LookupStatus::Found;
  r.account = account(std::move(address), std::move(node));
  return r;
}

inline LookupResult lookup_status(LookupStatus s) {
  LookupResult r;
  r.status = s;
  r.detail = "from the fake";
  return r;
}

inline AuthResult auth_ok(std::string address, std::string node = "node1") {
  AuthResult r;
  r.status = AuthStatus::Ok;
  r.account = account(std::move(address), std::move(node));
  return r;
}

inline AuthResult auth_status(AuthStatus s) {
  AuthResult r;
  r.status = s;
  if (s == AuthStatus::Denied) r.reason = DenyReason::WrongPassword;
  r.detail = "from the fake";
  return r;
}

// Every answer a test receives, and the executor it ran on.
template <class Result>
struct Answers {
  std::vector<Result> got;
  std::vector<const ManualExecutor*> where;

  std::function<void(Result)> callback() {
    return [this](Result r) {
      got.push_back(std::move(r));
      where.push_back(ManualExecutor::running);
    };
  }
};

inline CacheConfig test_config() {
  CacheConfig c;
  c.positive_ttl = 10s;
  c.negative_ttl = 2s;
  c.stale_ttl = 60s;
  c.max_entries = 100;
  return c;
}

// A cache over a fake, with a manual clock and one manual executor.
struct Rig {
  explicit Rig(CacheConfig config = test_config())
      : fake_owner(std::make_unique<FakeDirectory>()),
        fake(*fake_owner),
        cache(std::move(fake_owner), config, "example.com", [this] { return clock.now; }) {}

  // Looks `login` up and, if the source was asked, answers with `r`.
  void prime(std::string_view login, LookupResult r) {
    std::size_t before = fake.lookups.size();
    cache.lookup(login, loop, [](LookupResult) {});
    if (fake.lookups.size() > before) fake.answer_lookup(before, std::move(r));
    loop.run_all();
  }

  ManualClock clock;
  ManualExecutor loop;
  std::unique_ptr<FakeDirectory> fake_owner;
  FakeDirectory& fake;
  CachingDirectory cache;
};

}  // namespace postern::mapping::caching_testing
