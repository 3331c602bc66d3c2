// Recursive group membership against an LDAP directory.
//
// Walk mode goes upwards, breadth-first: level 0 is the entry itself; each
// level is one search for the groups that name any entry of the previous level
// in one of the member attributes. A visited set makes cycles harmless, and
// both the depth and the number of groups seen are capped; hitting a cap fails
// closed (not a member). Active Directory mode asks the server instead, with
// the LDAP_MATCHING_RULE_IN_CHAIN matching rule on the group entry.
// Answers are cached for the configured TTL.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mapping/directory.hpp"
#include "mapping/ldap_pool.hpp"

namespace postern::mapping {

// The OID of Active Directory's transitive membership matching rule.
inline constexpr std::string_view kInChainRule = "1.2.840.113556.1.4.1941";

// A DN in a canonical form for comparisons: RFC 4514 syntax, attribute types
// and values lower-cased, insignificant spaces removed. An unparsable DN is
// lower-cased as it is.
std::string normalize_dn(std::string_view dn);

// (|(member=<dn1>)(uniqueMember=<dn1>)(member=<dn2>)...), values escaped.
std::string member_filter(const std::vector<std::string>& member_attributes,
                          const std::vector<std::string>& dns);
// (member:1.2.840.113556.1.4.1941:=<dn>), the value escaped.
std::string in_chain_filter(std::string_view member_attribute, std::string_view dn);

class LdapGroupCheck {
 public:
  // `pool` must outlive this object and every check in flight.
  LdapGroupCheck(const LdapConfig& config, LdapPool& pool);

  // `done` runs exactly once on a pool worker thread (or inline for a cache
  // hit); the caller posts it where it belongs.
  void check(std::string_view dn, std::string_view group_dn,
             std::function<void(MembershipResult)> done);

 private:
  struct Walk;
  void walk_step(std::shared_ptr<Walk> walk);
  void ask_server(std::string dn, std::string group, std::string key,
                  std::function<void(MembershipResult)> done);
  void remember(const std::string& key, MembershipStatus status);

  const LdapConfig& config_;
  LdapPool& pool_;
  std::mutex mutex_;
  // key: normalised "dn\ngroup" -> (member?, when)
  std::unordered_map<std::string, std::pair<bool, std::chrono::steady_clock::time_point>> cache_;
};

}  // namespace postern::mapping
