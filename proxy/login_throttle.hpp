// Failed-login delays at the edge (DESIGN.md section 5): each recent failure
// from an IP address, and each recent failure for a login name, makes the
// next attempt from that address or for that login wait longer
// (base_delay * 2^(n-1), capped at max_delay; the larger of the two applies).
// Tracking both stops one address guessing many logins and many addresses
// guessing one login. A key with no failure for forget_after is forgotten;
// at most max_keys keys are kept (the least recently failed go first), so an
// attacker cycling addresses cannot grow it without bound.
//
// Thread-safe (one instance serves every loop).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/net_address.hpp"
#include "proxy/proxy_config.hpp"

namespace postern::proxy {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LoginThrottle(ThrottleConfig config);
  void reconfigure(ThrottleConfig config);

  // How long to wait before checking this attempt (0 when neither the
  // address nor the login failed recently). `login` as the client sent it;
  // it is lower-cased here.
  std::chrono::milliseconds delay(const core::IpAddress& ip, std::string_view login,
                                  Clock::time_point now) const;
  void failed(const core::IpAddress& ip, std::string_view login, Clock::time_point now);
  // A good password for `login`: its count is cleared (the address's is not:
  // one good account must not launder an address that guesses others).
  void succeeded(std::string_view login);

  std::size_t keys() const;

 private:
  struct Entry {
    unsigned failures = 0;
    Clock::time_point last{};
    std::list<std::string>::iterator order;  // position in lru_
  };
  std::chrono::milliseconds delay_for(const std::string& key, Clock::time_point now) const;
  void bump(const std::string& key, Clock::time_point now);

  mutable std::mutex mutex_;
  ThrottleConfig config_;
  std::unordered_map<std::string, Entry> entries_;  // "ip:1.2.3.4" / "login:alice@..."
  std::list<std::string> lru_;                      // most recently failed first
};

}  // namespace postern::proxy
