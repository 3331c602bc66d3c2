#include "mapping/caching_directory.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "mapping/address.hpp"

namespace postern::mapping {

// The cache's records. Named (not anonymous) because CachingDirectory::State
// holds them: a class with external linkage must not have members of
// internal-linkage types, which GCC flags when this file is compiled inside a
// unity build.
namespace caching_detail {

using TimePoint = std::chrono::steady_clock::time_point;

constexpr std::size_t kVerifierBytes = 32;  // SHA-256

// HMAC(process key, password): proves a password was seen before without keeping
// it. Wiped when destroyed; compared in constant time.
struct Verifier {
  std::array<unsigned char, kVerifierBytes> bytes{};
  bool valid = false;

  Verifier() = default;
  Verifier(const Verifier&) = default;
  Verifier& operator=(const Verifier&) = default;
  ~Verifier() { OPENSSL_cleanse(bytes.data(), bytes.size()); }

  bool matches(const Verifier& other) const {
    return valid && other.valid &&
           CRYPTO_memcmp(bytes.data(), other.bytes.data(), bytes.size()) == 0;
  }
};

struct AuthRecord {
  Verifier verifier;
  Account account;
  TimePoint stored;
};

struct Entry {
  std::string key;
  LookupResult result;  // Found or NotFound, never TempFail
  TimePoint stored;
  std::optional<AuthRecord> auth;
};

struct Waiter {
  core::Executor* reply;
  LookupCallback done;
};

}  // namespace caching_detail

namespace {

constexpr std::size_t kHmacKeyBytes = 32;

template <class Callback, class Result>
void post_result(core::Executor& reply, Callback done, Result result) {
  reply.post(
      [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
}

void log_cache(std::string_view op, const std::string& key, std::string_view outcome) {
  core::log_debug("directory_cache").kv("op", op).kv("key", key).kv("result", outcome);
}

}  // namespace

class CachingDirectory::State {
 public:
  using TimePoint = caching_detail::TimePoint;
  using Verifier = caching_detail::Verifier;
  using AuthRecord = caching_detail::AuthRecord;
  using Entry = caching_detail::Entry;
  using Waiter = caching_detail::Waiter;
  enum class Plan { Hit, Joined, Ask };

  State(CacheConfig config, std::string primary_domain, Clock clock)
      : config_(config), primary_domain_(std::move(primary_domain)), clock_(std::move(clock)) {
    if (RAND_bytes(hmac_key_.data(), static_cast<int>(hmac_key_.size())) != 1) {
      throw std::runtime_error("caching directory: RAND_bytes failed for the auth cache key");
    }
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { OPENSSL_cleanse(hmac_key_.data(), hmac_key_.size()); }

  bool enabled() const { return config_.enabled; }
  const std::string& primary_domain() const { return primary_domain_; }

  // Hit: `cached` holds the answer. Joined: `done` now waits for a request in
  // flight. Ask: `done` waits and the caller must ask the source, then pass
  // `epoch` to finish_lookup().
  Plan begin_lookup(const std::string& key, core::Executor& reply, LookupCallback& done,
                    LookupResult& cached, std::uint64_t& epoch) {
    std::lock_guard lock(mutex_);
    if (Entry* e = find(key); e != nullptr && age(*e, clock_()) < ttl(*e)) {
      ++stats_.hits;
      cached = e->result;
      return Plan::Hit;
    }
    ++stats_.misses;
    auto [it, inserted] = inflight_.try_emplace(key);
    it->second.push_back(Waiter{&reply, std::move(done)});
    if (!inserted) {
      ++stats_.inflight_joined;
      return Plan::Joined;
    }
    epoch = epoch_;
    return Plan::Ask;
  }

  // Stores the source's answer (or, on TempFail, replaces it with a servable
  // stale entry) and hands back the waiters to answer. Sets `stale` when an
  // expired entry was served.
  std::vector<Waiter> finish_lookup(const std::string& key, LookupResult& result,
                                    std::uint64_t epoch, bool& stale) {
    std::lock_guard lock(mutex_);
    auto now = clock_();
    std::vector<Waiter> waiters;
    if (auto node = inflight_.extract(key)) waiters = std::move(node.mapped());
    stale = false;
    if (result.status != LookupStatus::TempFail) {
      result.stale = false;
      if (epoch == epoch_) store(key, result, now);
      return waiters;
    }
    Entry* e = find(key);
    // Only a known route is served stale: an old "no such account" while the
    // source is down would turn a temporary failure into a permanent one.
    if (e == nullptr || e->result.status != LookupStatus::Found ||
        age(*e, now) >= ttl(*e) + config_.stale_ttl) {
      return waiters;
    }
    stale = age(*e, now) >= ttl(*e);
    std::string why = std::move(result.detail);
    result = e->result;
    result.stale = stale;
    if (stale) {
      ++stats_.stale_served;
      result.detail = "stale cache entry; source failed: " + why;
    }
    return waiters;
  }

  // Computes the verifier outside the lock: it is the only costly step.
  Verifier verifier(std::string_view password) const {
    Verifier v;
    EVP_MAC_CTX* ctx = keyed_hmac();
    std::size_t length = 0;
    // The MAC reads the Secret's own bytes, so no copy of the password is made here.
    const auto* data = reinterpret_cast<const unsigned char*>(password.data());
    v.valid = ctx != nullptr && EVP_MAC_update(ctx, data, password.size()) == 1 &&
              EVP_MAC_final(ctx, v.bytes.data(), &length, v.bytes.size()) == 1 &&
              length == v.bytes.size();
    return v;
  }

  // True (and `account` set) when a fresh auth record matches. Otherwise `epoch`
  // is what finish_auth() wants back.
  bool begin_auth(const std::string& key, const Verifier& v, Account& account,
                  std::uint64_t& epoch) {
    std::lock_guard lock(mutex_);
    Entry* e = find(key);
    if (e != nullptr && e->auth && e->auth->verifier.matches(v) &&
        clock_() - e->auth->stored < config_.positive_ttl) {
      ++stats_.hits;
      account = e->auth->account;
      return true;
    }
    ++stats_.misses;
    epoch = epoch_;
    return false;
  }

  // Learns from the source's answer; on TempFail may turn it into a stale Ok.
  // Returns true when it did.
  bool finish_auth(const std::string& key, const Verifier& v, AuthResult& result,
                   std::uint64_t epoch) {
    std::lock_guard lock(mutex_);
    auto now = clock_();
    switch (result.status) {
      case AuthStatus::Ok: {
        if (epoch != epoch_ || !v.valid) return false;
        LookupResult found;
        found.status = LookupStatus::Found;
        found.account = result.account;
        if (Entry* e = store(key, found, now)) e->auth = AuthRecord{v, result.account, now};
        return false;
      }
      case AuthStatus::Denied: {
        // The password may have changed: the old one must not keep working here.
        if (auto it = index_.find(key); it != index_.end()) it->second->auth.reset();
        return false;
      }
      case AuthStatus::TempFail:
        break;
    }
    Entry* e = find(key);
    if (e == nullptr || !e->auth || !e->auth->verifier.matches(v)) return false;
    auto record_age = now - e->auth->stored;
    if (record_age >= config_.positive_ttl + config_.stale_ttl) return false;
    bool stale = record_age >= config_.positive_ttl;
    std::string why = std::move(result.detail);
    result.status = AuthStatus::Ok;
    result.reason = DenyReason::None;
    result.account = e->auth->account;
    result.detail = stale ? "stale auth cache record; source failed: " + why : "auth cache";
    if (stale) ++stats_.stale_served;
    return stale;
  }

  void invalidate(const std::string& key) {
    std::lock_guard lock(mutex_);
    // Answers in flight were asked before the change: deliver them, don't keep them.
    ++epoch_;
    if (auto it = index_.find(key); it != index_.end()) {
      auto node = it->second;
      index_.erase(it);
      lru_.erase(node);
    }
  }

  CacheStats stats() const {
    std::lock_guard lock(mutex_);
    CacheStats s = stats_;
    s.entries = lru_.size();
    return s;
  }

 private:
  static TimePoint::duration age(const Entry& e, TimePoint now) { return now - e.stored; }

  std::chrono::milliseconds ttl(const Entry& e) const {
    return e.result.status == LookupStatus::Found ? config_.positive_ttl : config_.negative_ttl;
  }

  // Finds and marks as most recently used.
  Entry* find(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &*it->second;
  }

  // Inserts or replaces, most recently used, evicting the least recently used
  // beyond max_entries. Null only when max_entries is 0.
  Entry* store(const std::string& key, const LookupResult& result, TimePoint now) {
    if (Entry* e = find(key)) {
      e->result = result;
      e->stored = now;
      if (result.status != LookupStatus::Found) e->auth.reset();
      return e;
    }
    if (config_.max_entries == 0) return nullptr;
    lru_.push_front(Entry{key, result, now, std::nullopt});
    // The index's keys are views of the keys in lru_'s nodes, which never move.
    index_.emplace(lru_.front().key, lru_.begin());
    while (lru_.size() > config_.max_entries) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
      ++stats_.evictions;
    }
    return &lru_.front();
  }

  // HMAC-SHA256 under hmac_key_, ready for a message, from a context this
  // thread keeps (null if OpenSSL fails). HMAC() builds a context per call
  // (the algorithm's fetch, its parameters, the key's pads): about 4 us, more
  // than the rest of a cached login's user-space work. Starting a keyed
  // context again with the same key (EVP_MAC_init with no key, which resets
  // HMAC from OpenSSL 3.0.3 on: meson.build asks for it) costs under 1 us.
  // The context is keyed again when another State (another key) used it
  // last on this thread; a thread's context keeps the last key it was given
  // until then or until the thread ends.
  EVP_MAC_CTX* keyed_hmac() const {
    struct PerThread {
      std::uint64_t key_id = 0;
      EVP_MAC_CTX* ctx = nullptr;
      ~PerThread() { EVP_MAC_CTX_free(ctx); }  // wipes the key
    };
    thread_local PerThread t;
    if (t.ctx == nullptr) {  // first use on this thread, or OpenSSL failed before
      EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
      if (mac != nullptr) t.ctx = EVP_MAC_CTX_new(mac);
      EVP_MAC_free(mac);  // the context holds its own reference
      if (t.ctx == nullptr) return nullptr;
      t.key_id = 0;
    }
    if (t.key_id == key_id_) {
      if (EVP_MAC_init(t.ctx, nullptr, 0, nullptr) != 1) return nullptr;
      return t.ctx;
    }
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    t.key_id = 0;
    if (EVP_MAC_init(t.ctx, hmac_key_.data(), hmac_key_.size(), params) != 1) return nullptr;
    t.key_id = key_id_;
    return t.ctx;
  }

  static std::uint64_t next_key_id() {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }

  const CacheConfig config_;
  const std::string primary_domain_;
  const Clock clock_;
  std::array<unsigned char, kHmacKeyBytes> hmac_key_{};
  const std::uint64_t key_id_ = next_key_id();  // which key a thread's HMAC context holds

  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // guarded by mutex_; front = most recently used
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // guarded
  std::unordered_map<std::string, std::vector<Waiter>> inflight_;           // guarded
  std::uint64_t epoch_ = 0;  // guarded; bumped by invalidate()
  CacheStats stats_;         // guarded
};

CachingDirectory::CachingDirectory(std::unique_ptr<Directory> source, CacheConfig config,
                                   std::string primary_domain, Clock clock)
    : state_(std::make_shared<State>(config, std::move(primary_domain), std::move(clock))),
      source_(std::move(source)) {
  if (!source_) throw std::invalid_argument("caching directory: no source");
}

CachingDirectory::~CachingDirectory() = default;

void CachingDirectory::lookup(std::string_view login, core::Executor& reply, LookupCallback done) {
  if (!state_->enabled()) return source_->lookup(login, reply, std::move(done));
  auto address = parse_login(login, state_->primary_domain());
  if (!address) {
    LookupResult r;
    r.status = LookupStatus::NotFound;
    r.detail = std::string(address_error_text(address.error()));
    return post_result(reply, std::move(done), std::move(r));
  }
  std::string key = login_key(*address);
  LookupResult cached;
  std::uint64_t epoch = 0;
  switch (state_->begin_lookup(key, reply, done, cached, epoch)) {
    case State::Plan::Hit:
      log_cache("lookup", key, "hit");
      return post_result(reply, std::move(done), std::move(cached));
    case State::Plan::Joined:
      log_cache("lookup", key, "joined");
      return;
    case State::Plan::Ask:
      log_cache("lookup", key, "miss");
      break;
  }
  std::weak_ptr<State> weak = state_;
  // The source answers on the first caller's executor; the others are posted to.
  source_->lookup(key, reply, [weak, key, epoch](LookupResult result) {
    auto state = weak.lock();
    if (!state) return;
    bool stale = false;
    auto waiters = state->finish_lookup(key, result, epoch, stale);
    if (stale) core::log_warn("directory_stale").kv("op", "lookup").kv("key", key);
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      auto& w = waiters[i];
      if (i + 1 == waiters.size()) {
        post_result(*w.reply, std::move(w.done), std::move(result));
      } else {
        post_result(*w.reply, std::move(w.done), result);
      }
    }
  });
}

void CachingDirectory::authenticate(std::string_view login, core::Secret password,
                                    core::Executor& reply, AuthCallback done) {
  if (!state_->enabled()) {
    return source_->authenticate(login, std::move(password), reply, std::move(done));
  }
  auto address = parse_login(login, state_->primary_domain());
  if (!address) {
    AuthResult r;
    r.status = AuthStatus::Denied;
    r.reason = DenyReason::BadLogin;
    r.detail = std::string(address_error_text(address.error()));
    return post_result(reply, std::move(done), std::move(r));
  }
  std::string key = login_key(*address);
  State::Verifier verifier = state_->verifier(password.reveal());
  AuthResult cached;
  std::uint64_t epoch = 0;
  if (state_->begin_auth(key, verifier, cached.account, epoch)) {
    log_cache("auth", key, "hit");
    cached.status = AuthStatus::Ok;
    cached.detail = "auth cache";
    return post_result(reply, std::move(done), std::move(cached));
  }
  log_cache("auth", key, "miss");
  std::weak_ptr<State> weak = state_;
  // The source posts this to `reply`, so calling `done` from it is not inline.
  source_->authenticate(login, std::move(password), reply,
                        [weak, key, verifier, epoch, done = std::move(done)](AuthResult result) {
                          auto state = weak.lock();
                          if (!state) return;
                          if (state->finish_auth(key, verifier, result, epoch)) {
                            core::log_warn("directory_stale").kv("op", "auth").kv("key", key);
                          }
                          done(std::move(result));
                        });
}

void CachingDirectory::is_member(std::string_view dn, std::string_view group_dn,
                                 core::Executor& reply, MembershipCallback done) {
  source_->is_member(dn, group_dn, reply, std::move(done));
}

void CachingDirectory::invalidate(std::string_view login) {
  if (state_->enabled()) {
    if (auto address = parse_login(login, state_->primary_domain())) {
      state_->invalidate(login_key(*address));
    }
  }
  source_->invalidate(login);
}

CacheStats CachingDirectory::stats() const {
  return state_->stats();
}

}  // namespace postern::mapping
