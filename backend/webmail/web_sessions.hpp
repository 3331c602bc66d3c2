// The node's WebMail sessions (API.md, "Sessions and CSRF"): a random token
// (the postern_session cookie) names a logged-in user, with a CSRF token the
// page sends back on every state-changing request. Kept in memory only: a
// node restart logs everyone out, and nothing secret reaches the disk.
//
// A session ends when it has not been used for `idle_timeout`, when it is
// older than `max_age` (however busy), or at logout. Memory is bounded
// without letting one account lock everybody out: a user holds at most
// `max_per_user` sessions (a new login drops that user's least recently used
// one), and at `max_sessions` on the node a login drops the node's least
// recently used session instead of being refused.
//
// THREAD-SAFETY: every method may be called from any loop at any time (one
// mutex); sessions are handed out as copies.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metrics.hpp"

namespace postern::node::webmail {

struct WebSession {
  std::string token;         // 64 hex digits: 32 bytes from OpenSSL's generator
  std::string csrf;          // 64 hex digits, independent of the token
  std::string user;          // canonical address
  std::string display_name;  // from the directory; may be ""
  std::chrono::steady_clock::time_point created;
  std::chrono::steady_clock::time_point last_used;
};

class WebSessions {
 public:
  using Clock = std::chrono::steady_clock;

  static constexpr std::size_t kMaxPerUser = 20;

  WebSessions(std::chrono::milliseconds idle_timeout, std::chrono::milliseconds max_age,
              std::size_t max_sessions, std::size_t max_per_user = kMaxPerUser);
  WebSessions(const WebSessions&) = delete;
  WebSessions& operator=(const WebSessions&) = delete;

  // Kept equal to size() from now on (every login, logout, expiry and
  // eviction), so the metric never counts sessions that are gone. Set once,
  // before use; the gauge must outlive this object.
  void set_gauge(core::Gauge* live);

  // A new session for `user`. Makes room first: the user's least recently
  // used session past max_per_user, then (expired ones swept) the node's
  // least recently used one past max_sessions. nullopt only when the random
  // generator failed.
  std::optional<WebSession> create(std::string user, std::string display_name,
                                   Clock::time_point now = Clock::now());
  // The live session of `token`, now counted as used; nullopt when unknown or
  // expired (an expired one is forgotten).
  std::optional<WebSession> find(std::string_view token, Clock::time_point now = Clock::now());
  // Forgets the session at once (logout). False when there was none.
  bool remove(std::string_view token);
  // Drops the expired sessions; returns how many went.
  std::size_t sweep(Clock::time_point now = Clock::now());
  std::size_t size() const;

  // Whether `given` (the X-CSRF-Token header) is the session's, compared in
  // constant time.
  static bool csrf_matches(const WebSession& session, std::string_view given);

 private:
  struct Entry {
    WebSession session;
    std::list<std::string>::iterator lru;  // its place in lru_
  };
  using Map = std::unordered_map<std::string, Entry>;

  bool expired(const WebSession& s, Clock::time_point now) const;
  // The helpers below need mutex_ held.
  void erase(Map::iterator it);
  std::size_t erase_expired(Clock::time_point now);
  void publish();

  const std::chrono::milliseconds idle_timeout_;
  const std::chrono::milliseconds max_age_;
  const std::size_t max_sessions_;
  const std::size_t max_per_user_;
  core::Gauge* gauge_ = nullptr;
  mutable std::mutex mutex_;
  // Guarded by mutex_: the sessions by token; their tokens, most recently
  // used first; each user's tokens.
  Map sessions_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, std::vector<std::string>> by_user_;
  std::size_t creations_ = 0;
};

}  // namespace postern::node::webmail
