#include "backend/webmail/web_sessions.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <iterator>

#include "core/secret.hpp"

namespace postern::node::webmail {

namespace {

// Expired sessions are swept on every this many logins, so that a node whose
// users never come back does not keep them until it is full.
constexpr std::size_t kSweepEvery = 256;

}  // namespace

WebSessions::WebSessions(std::chrono::milliseconds idle_timeout, std::chrono::milliseconds max_age,
                         std::size_t max_sessions, std::size_t max_per_user)
    : idle_timeout_(idle_timeout),
      max_age_(max_age),
      max_sessions_(std::max<std::size_t>(max_sessions, 1)),
      max_per_user_(std::max<std::size_t>(max_per_user, 1)) {}

void WebSessions::set_gauge(core::Gauge* live) {
  std::lock_guard lock(mutex_);
  gauge_ = live;
  publish();
}

bool WebSessions::expired(const WebSession& s, Clock::time_point now) const {
  return now - s.last_used >= idle_timeout_ || now - s.created >= max_age_;
}

void WebSessions::publish() {
  if (gauge_ != nullptr) gauge_->set(static_cast<std::int64_t>(sessions_.size()));
}

void WebSessions::erase(Map::iterator it) {
  auto user = by_user_.find(it->second.session.user);
  if (user != by_user_.end()) {
    std::erase(user->second, it->first);
    if (user->second.empty()) by_user_.erase(user);
  }
  lru_.erase(it->second.lru);
  sessions_.erase(it);
}

std::size_t WebSessions::erase_expired(Clock::time_point now) {
  std::size_t n = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    auto next = std::next(it);
    if (expired(it->second.session, now)) {
      erase(it);
      ++n;
    }
    it = next;
  }
  return n;
}

std::optional<WebSession> WebSessions::create(std::string user, std::string display_name,
                                              Clock::time_point now) {
  WebSession s;
  s.token = core::random_hex(32);
  s.csrf = core::random_hex(32);
  if (s.token.empty() || s.csrf.empty()) return std::nullopt;
  s.user = std::move(user);
  s.display_name = std::move(display_name);
  s.created = now;
  s.last_used = now;
  std::lock_guard lock(mutex_);
  // 256 random bits: a collision is not a case to handle, but never overwrite.
  if (sessions_.contains(s.token)) return std::nullopt;
  if (++creations_ % kSweepEvery == 0 || sessions_.size() >= max_sessions_) erase_expired(now);
  // One account cannot fill the node: past its own cap, its least recently
  // used session goes (at most kMaxPerUser tokens to look at).
  if (auto mine = by_user_.find(s.user);
      mine != by_user_.end() && mine->second.size() >= max_per_user_) {
    Map::iterator oldest = sessions_.end();
    for (const auto& token : mine->second) {
      auto it = sessions_.find(token);
      if (it != sessions_.end() &&
          (oldest == sessions_.end() ||
           it->second.session.last_used < oldest->second.session.last_used))
        oldest = it;
    }
    if (oldest != sessions_.end()) erase(oldest);
  }
  // A full node drops its least recently used sessions rather than refusing
  // the login.
  while (sessions_.size() >= max_sessions_ && !lru_.empty()) erase(sessions_.find(lru_.back()));
  lru_.push_front(s.token);
  sessions_.emplace(s.token, Entry{s, lru_.begin()});
  by_user_[s.user].push_back(s.token);
  publish();
  return s;
}

std::optional<WebSession> WebSessions::find(std::string_view token, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(std::string(token));
  if (it == sessions_.end()) return std::nullopt;
  if (expired(it->second.session, now)) {
    erase(it);
    publish();
    return std::nullopt;
  }
  it->second.session.last_used = now;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.session;
}

bool WebSessions::remove(std::string_view token) {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(std::string(token));
  if (it == sessions_.end()) return false;
  erase(it);
  publish();
  return true;
}

std::size_t WebSessions::sweep(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const std::size_t n = erase_expired(now);
  publish();
  return n;
}

std::size_t WebSessions::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

bool WebSessions::csrf_matches(const WebSession& session, std::string_view given) {
  if (session.csrf.empty() || given.size() != session.csrf.size()) return false;
  return CRYPTO_memcmp(session.csrf.data(), given.data(), given.size()) == 0;
}

}  // namespace postern::node::webmail
