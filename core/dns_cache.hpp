// The resolver's cache for one query type: at most `capacity` names, the least
// recently used evicted first, each answer kept until its TTL runs out
// (positive answers: the records' TTL; NXDOMAIN/NODATA: the negative TTL).
// Single-threaded: owned by a DnsResolver on its loop.
#pragma once

#include <chrono>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace postern::core {

template <class Answer>
class DnsCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit DnsCache(std::size_t capacity) : capacity_(capacity) {}

  // The cached answer for `name` if it has not expired (an expired one is dropped).
  std::optional<Answer> get(const std::string& name, Clock::time_point now) {
    auto it = map_.find(name);
    if (it == map_.end()) return std::nullopt;
    if (it->second.expires <= now) {
      lru_.erase(it->second.position);
      map_.erase(it);
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second.position);
    return it->second.answer;
  }

  // Stores `answer` for `ttl`; a zero TTL or a zero capacity stores nothing.
  void put(const std::string& name, Answer answer, std::chrono::seconds ttl,
           Clock::time_point now) {
    if (capacity_ == 0 || ttl.count() <= 0) return;
    if (auto it = map_.find(name); it != map_.end()) {
      it->second.answer = std::move(answer);
      it->second.expires = now + ttl;
      lru_.splice(lru_.begin(), lru_, it->second.position);
      return;
    }
    if (map_.size() >= capacity_) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(name);
    map_.emplace(name, Entry{std::move(answer), now + ttl, lru_.begin()});
  }

  std::size_t size() const { return map_.size(); }

 private:
  struct Entry {
    Answer answer;
    Clock::time_point expires;
    std::list<std::string>::iterator position;
  };
  std::size_t capacity_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace postern::core
