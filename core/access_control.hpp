// Who may connect, and how much (the seeds' "access control", "flow control"
// and "error control", for every service).
//
// AccessRules: an ordered list of allow/deny networks; the first match decides;
// no match allows. FlowControl: per listener, shared by all its worker
// threads: total connections, concurrent connections per IP, new connections
// per interval (total and per IP). ErrorLimits: what a session tolerates before
// it disconnects.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "core/net_address.hpp"

namespace postern::core {

class AccessRules {
 public:
  struct Rule {
    bool allow = true;
    Network network;
  };
  AccessRules() = default;
  explicit AccessRules(std::vector<Rule> rules) : rules_(std::move(rules)) {}
  // [{"allow": "127.0.0.0/8"}, {"deny": "0.0.0.0/0"}]
  static AccessRules from_config(const ConfigNode& parent, std::string_view key);
  bool allowed(const IpAddress& ip) const;

 private:
  std::vector<Rule> rules_;
};

struct FlowLimits {
  std::size_t max_connections = 10'000;  // at once, on this listener
  std::size_t max_per_ip = 100;          // at once, from one address
  std::size_t max_new = 0;               // new connections per interval; 0 = no limit
  std::size_t max_new_per_ip = 0;        // the same, per address
  std::chrono::milliseconds interval{60'000};
  static FlowLimits from_config(const ConfigNode& node);  // the "flow" object
};

struct ErrorLimits {
  int max_bad_commands = 20;  // syntax errors and unknown commands per session
  int max_failed_logins = 3;  // per session
  static ErrorLimits from_config(const ConfigNode& node);  // the "errors" object
};

enum class FlowVerdict { Accept, TooMany, TooManyFromIp, TooFast, TooFastFromIp };
std::string_view flow_verdict_name(FlowVerdict v);

class FlowControl {
 public:
  using Clock = std::chrono::steady_clock;

  // Released when destroyed: hold it as long as the connection lives.
  class Ticket {
   public:
    Ticket(std::shared_ptr<FlowControl> owner, IpAddress ip) : owner_(std::move(owner)), ip_(ip) {}
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() {
      if (owner_) owner_->release(ip_);
    }

   private:
    std::shared_ptr<FlowControl> owner_;
    IpAddress ip_;
  };

  explicit FlowControl(FlowLimits limits) : limits_(limits) {}
  // Thread-safe. On Accept, counts the connection until release().
  FlowVerdict admit(const IpAddress& ip, Clock::time_point now);
  void release(const IpAddress& ip);
  std::size_t active() const;

 private:
  struct PerIp {
    std::size_t active = 0;
    std::size_t recent = 0;  // new connections in the current interval
  };
  struct IpHash {
    std::size_t operator()(const IpAddress& ip) const noexcept;
  };
  void roll(Clock::time_point now);

  const FlowLimits limits_;
  mutable std::mutex mutex_;
  std::size_t active_ = 0;
  std::size_t recent_ = 0;
  Clock::time_point window_start_{};
  std::unordered_map<IpAddress, PerIp, IpHash> per_ip_;
};

}  // namespace postern::core
