// What the directory knows about one account.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::mapping {

enum class AccountState { Active, Disabled, Moving };

std::string_view account_state_name(AccountState s);
// "active" | "disabled" | "moving", case-insensitive; nullopt otherwise.
std::optional<AccountState> parse_account_state(std::string_view text);

struct Account {
  std::string address;               // canonical address, lower-case domain
  std::string node;                  // back-end node name, e.g. "node1"
  std::vector<std::string> aliases;  // alternate addresses
  std::string dn;                    // directory entry; empty for the file source
  AccountState state = AccountState::Active;
  std::vector<std::string> services;  // enabled services; empty means all
  std::optional<std::uint64_t> quota_bytes;
  // Every attribute the source returned, by the name the source used.
  std::map<std::string, std::vector<std::string>> attributes;

  bool service_enabled(std::string_view service) const;
};

}  // namespace postern::mapping
