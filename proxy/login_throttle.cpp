#include "proxy/login_throttle.hpp"

#include <algorithm>

namespace postern::proxy {

namespace {

std::string ip_key(const core::IpAddress& ip) {
  return "ip:" + ip.to_string();
}

std::string login_key(std::string_view login) {
  std::string key = "login:";
  key.reserve(key.size() + login.size());
  for (char ch : login) key += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
  return key;
}

}  // namespace

LoginThrottle::LoginThrottle(ThrottleConfig config) : config_(config) {}

void LoginThrottle::reconfigure(ThrottleConfig config) {
  std::lock_guard lock(mutex_);
  config_ = config;
  while (entries_.size() > config_.max_keys) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
}

std::chrono::milliseconds LoginThrottle::delay_for(const std::string& key,
                                                   Clock::time_point now) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.failures == 0) return std::chrono::milliseconds{0};
  if (now - it->second.last >= config_.forget_after) return std::chrono::milliseconds{0};
  // Doubling past 2^20 exceeds any sensible max_delay; the cap keeps the
  // shift defined.
  const unsigned doublings = std::min(it->second.failures - 1, 20U);
  const auto delay = config_.base_delay * (std::int64_t{1} << doublings);
  return std::min(delay, config_.max_delay);
}

std::chrono::milliseconds LoginThrottle::delay(const core::IpAddress& ip, std::string_view login,
                                               Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto d = delay_for(ip_key(ip), now);
  if (!login.empty()) d = std::max(d, delay_for(login_key(login), now));
  return d;
}

void LoginThrottle::bump(const std::string& key, Clock::time_point now) {
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& e = it->second;
  if (inserted) {
    lru_.push_front(key);
    e.order = lru_.begin();
  } else {
    // An old failure no longer counts: start again from the first delay.
    if (now - e.last >= config_.forget_after) e.failures = 0;
    lru_.splice(lru_.begin(), lru_, e.order);
  }
  ++e.failures;
  e.last = now;
}

void LoginThrottle::failed(const core::IpAddress& ip, std::string_view login,
                           Clock::time_point now) {
  std::lock_guard lock(mutex_);
  bump(ip_key(ip), now);
  if (!login.empty()) bump(login_key(login), now);
  // The least recently failed keys are at the back: drop those forgotten,
  // then any beyond the bound.
  while (!lru_.empty()) {
    auto it = entries_.find(lru_.back());
    const bool forgotten = now - it->second.last >= config_.forget_after;
    if (!forgotten && entries_.size() <= config_.max_keys) break;
    entries_.erase(it);
    lru_.pop_back();
  }
}

void LoginThrottle::succeeded(std::string_view login) {
  if (login.empty()) return;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(login_key(login));
  if (it == entries_.end()) return;
  lru_.erase(it->second.order);
  entries_.erase(it);
}

std::size_t LoginThrottle::keys() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace postern::proxy
