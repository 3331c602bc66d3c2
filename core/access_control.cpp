#include "core/access_control.hpp"

#include <fmt/format.h>

namespace postern::core {

AccessRules AccessRules::from_config(const ConfigNode& parent, std::string_view key) {
  std::vector<Rule> rules;
  for (const auto& item : parent.objects(key)) {
    item.allow_only({"allow", "deny"});
    bool allow = item.has("allow");
    if (allow == item.has("deny")) {
      item.fail("", "expected exactly one of \"allow\" or \"deny\" with a network");
    }
    auto text = item.string(allow ? "allow" : "deny");
    auto net = Network::parse(text);
    if (!net)
      item.fail(allow ? "allow" : "deny",
                fmt::format("expected a network such as 10.0.0.0/8 or ::1, found \"{}\"", text));
    rules.push_back({allow, *net});
  }
  return AccessRules(std::move(rules));
}

bool AccessRules::allowed(const IpAddress& ip) const {
  for (const auto& r : rules_) {
    if (r.network.contains(ip)) return r.allow;
  }
  return true;
}

FlowLimits FlowLimits::from_config(const ConfigNode& n) {
  n.allow_only({"max_connections", "max_per_ip", "max_new", "max_new_per_ip", "interval"});
  FlowLimits f;
  f.max_connections =
      static_cast<std::size_t>(n.integer_or("max_connections", 10'000, 1, 10'000'000));
  f.max_per_ip = static_cast<std::size_t>(n.integer_or("max_per_ip", 100, 1, 10'000'000));
  f.max_new = static_cast<std::size_t>(n.integer_or("max_new", 0, 0, 100'000'000));
  f.max_new_per_ip = static_cast<std::size_t>(n.integer_or("max_new_per_ip", 0, 0, 100'000'000));
  f.interval = n.seconds_or("interval", 60, 0.001, 86400);
  return f;
}

ErrorLimits ErrorLimits::from_config(const ConfigNode& n) {
  n.allow_only({"max_bad_commands", "max_failed_logins"});
  ErrorLimits e;
  e.max_bad_commands = static_cast<int>(n.integer_or("max_bad_commands", 20, 1, 10'000));
  e.max_failed_logins = static_cast<int>(n.integer_or("max_failed_logins", 3, 1, 1'000));
  return e;
}

std::string_view flow_verdict_name(FlowVerdict v) {
  switch (v) {
    case FlowVerdict::Accept:
      return "accept";
    case FlowVerdict::TooMany:
      return "too_many_connections";
    case FlowVerdict::TooManyFromIp:
      return "too_many_from_ip";
    case FlowVerdict::TooFast:
      return "too_many_new_connections";
    case FlowVerdict::TooFastFromIp:
      return "too_many_new_from_ip";
  }
  return "?";
}

std::size_t FlowControl::IpHash::operator()(const IpAddress& ip) const noexcept {
  std::size_t h = ip.v6 ? 1469598103934665603ULL : 1099511628211ULL;
  for (auto b : ip.bytes) h = (h ^ b) * 1099511628211ULL;
  return h;
}

void FlowControl::roll(Clock::time_point now) {
  if (now - window_start_ < limits_.interval) return;
  window_start_ = now;
  recent_ = 0;
  // A new interval: forget the counts, and the addresses with nothing open.
  for (auto it = per_ip_.begin(); it != per_ip_.end();) {
    it->second.recent = 0;
    it = it->second.active == 0 ? per_ip_.erase(it) : std::next(it);
  }
}

FlowVerdict FlowControl::admit(const IpAddress& ip, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  roll(now);
  if (active_ >= limits_.max_connections) return FlowVerdict::TooMany;
  if (limits_.max_new != 0 && recent_ >= limits_.max_new) return FlowVerdict::TooFast;
  auto& p = per_ip_[ip];
  if (p.active >= limits_.max_per_ip) return FlowVerdict::TooManyFromIp;
  if (limits_.max_new_per_ip != 0 && p.recent >= limits_.max_new_per_ip) {
    return FlowVerdict::TooFastFromIp;
  }
  ++active_;
  ++recent_;
  ++p.active;
  ++p.recent;
  return FlowVerdict::Accept;
}

void FlowControl::release(const IpAddress& ip) {
  std::lock_guard lock(mutex_);
  if (active_ > 0) --active_;
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && it->second.active > 0) --it->second.active;
}

std::size_t FlowControl::active() const {
  std::lock_guard lock(mutex_);
  return active_;
}

}  // namespace postern::core
