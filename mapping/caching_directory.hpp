// The routing cache (DESIGN.md section 4): a Directory in front of any source.
//
// lookup():
//  - The key is login_key(parse_login(login, primary_domain)); a login that does
//    not parse answers NotFound without asking the source.
//  - Found entries live positive_ttl, NotFound entries negative_ttl. TempFail is
//    never stored.
//  - One source request per key in flight, however many callers ask at once: the
//    others wait for the same answer (single flight). The source is asked for the
//    key and replies on the first caller's executor; every waiter is then answered
//    by a post() to its own executor.
//  - When the source answers TempFail and the key's entry expired less than
//    stale_ttl ago, that entry is served with `stale = true` (and logged).
//  - At most max_entries keys; the least recently used goes first.
//
// authenticate():
//  - After the source answers Ok, the cache keeps for the key a verifier,
//    HMAC-SHA256(a random per-process key, password), and the account; never the
//    password. A later call whose verifier matches a record younger than
//    positive_ttl answers Ok without the source. Anything else asks the source: a
//    wrong password is never denied from the cache (the password may have changed).
//  - Source TempFail + a matching record younger than positive_ttl + stale_ttl
//    answers Ok (stale, said in `detail`). Source Denied drops the record. Source Ok
//    also refreshes the lookup entry with the returned account.
//
// is_member() passes through (the LDAP source caches groups itself). invalidate()
// drops the key's entry and auth record, and tells the source too; an answer
// already in flight at that moment is delivered but not stored. With
// `enabled = false` every call passes straight through.
//
// Threading: every method is callable from any thread; callbacks follow the
// Directory contract (exactly once, on `reply`, never inline). The source and
// callbacks are never called with the cache's lock held. Destroying the cache
// destroys the source and drops the callbacks of calls still pending, including
// source answers already posted but not yet run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mapping/directory.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::mapping {

// Counters since construction, for metrics. Lookups and authentications count
// together in hits and misses.
struct CacheStats {
  std::uint64_t hits = 0;             // answered from a fresh entry or auth record
  std::uint64_t misses = 0;           // had to wait for the source
  std::uint64_t stale_served = 0;     // source TempFail answered from an expired entry
  std::uint64_t evictions = 0;        // entries dropped by the size bound
  std::uint64_t inflight_joined = 0;  // lookups that joined a request already in flight
  std::size_t entries = 0;            // keys cached now (a gauge, not a counter)
};

class CachingDirectory final : public Directory {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // Takes ownership of `source`. `primary_domain` completes logins without '@'.
  // `clock` is called from any thread, with the cache's lock held. Throws
  // std::invalid_argument for a null source, std::runtime_error if the random
  // auth cache key cannot be generated.
  CachingDirectory(std::unique_ptr<Directory> source, CacheConfig config,
                   std::string primary_domain, Clock clock = &std::chrono::steady_clock::now);
  CachingDirectory(const CachingDirectory&) = delete;
  CachingDirectory& operator=(const CachingDirectory&) = delete;
  ~CachingDirectory() override;

  void lookup(std::string_view login, core::Executor& reply, LookupCallback done) override;
  void authenticate(std::string_view login, core::Secret password, core::Executor& reply,
                    AuthCallback done) override;
  void is_member(std::string_view dn, std::string_view group_dn, core::Executor& reply,
                 MembershipCallback done) override;
  void invalidate(std::string_view login) override;

  CacheStats stats() const;

 private:
  class State;  // everything the source's callbacks touch; they hold it weakly

  std::shared_ptr<State> state_;
  // Declared last so it is destroyed first and drops its pending callbacks; an
  // answer it had already posted then finds state_ gone and is dropped too.
  std::unique_ptr<Directory> source_;
};

}  // namespace postern::mapping
