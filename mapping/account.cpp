#include "mapping/account.hpp"

#include <strings.h>
#include <algorithm>

#include "mapping/directory.hpp"

namespace postern::mapping {

std::string_view account_state_name(AccountState s) {
  switch (s) {
    case AccountState::Active:
      return "active";
    case AccountState::Disabled:
      return "disabled";
    case AccountState::Moving:
      return "moving";
  }
  return "active";
}

std::optional<AccountState> parse_account_state(std::string_view text) {
  for (auto s : {AccountState::Active, AccountState::Disabled, AccountState::Moving}) {
    auto name = account_state_name(s);
    if (text.size() == name.size() && strncasecmp(text.data(), name.data(), name.size()) == 0) {
      return s;
    }
  }
  return std::nullopt;
}

bool Account::service_enabled(std::string_view service) const {
  if (services.empty()) return true;
  return std::any_of(services.begin(), services.end(), [&](const std::string& s) {
    return s.size() == service.size() && strncasecmp(s.data(), service.data(), s.size()) == 0;
  });
}

std::string_view deny_reason_name(DenyReason r) {
  switch (r) {
    case DenyReason::None:
      return "none";
    case DenyReason::BadLogin:
      return "bad_login";
    case DenyReason::UnknownUser:
      return "unknown_user";
    case DenyReason::WrongPassword:
      return "wrong_password";
    case DenyReason::NotInGroup:
      return "not_in_group";
    case DenyReason::Disabled:
      return "disabled";
  }
  return "none";
}

}  // namespace postern::mapping
