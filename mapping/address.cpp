#include "mapping/address.hpp"

#include <algorithm>
#include <cctype>

namespace postern::mapping {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string_view address_error_text(AddressError e) {
  switch (e) {
    case AddressError::Empty:
      return "empty login";
    case AddressError::TooLong:
      return "login too long";
    case AddressError::BadCharacter:
      return "login contains a forbidden character";
    case AddressError::EmptyLocal:
      return "login has an empty local part";
    case AddressError::EmptyDomain:
      return "login has an empty domain";
    case AddressError::NoDomain:
      return "login has no domain and no primary domain is configured";
  }
  return "bad login";
}

tl::expected<Address, AddressError> parse_login(std::string_view login,
                                                std::string_view primary_domain) {
  if (login.empty()) return tl::unexpected(AddressError::Empty);
  if (login.size() > kMaxAddressBytes) return tl::unexpected(AddressError::TooLong);
  for (unsigned char c : login) {
    // Control characters, space and DEL never belong in a login. 8-bit bytes
    // are allowed (UTF-8 local parts, RFC 6531).
    if (c <= 0x20 || c == 0x7f) return tl::unexpected(AddressError::BadCharacter);
  }
  auto at = login.rfind('@');
  Address a;
  if (at == std::string_view::npos) {
    if (primary_domain.empty()) return tl::unexpected(AddressError::NoDomain);
    a.local = std::string(login);
    a.domain = lower(primary_domain);
  } else {
    a.local = std::string(login.substr(0, at));
    a.domain = lower(login.substr(at + 1));
  }
  if (a.local.empty()) return tl::unexpected(AddressError::EmptyLocal);
  if (a.domain.empty()) return tl::unexpected(AddressError::EmptyDomain);
  if (a.local.find('@') != std::string::npos) return tl::unexpected(AddressError::BadCharacter);
  if (a.full().size() > kMaxAddressBytes) return tl::unexpected(AddressError::TooLong);
  return a;
}

std::string login_key(const Address& a) {
  return lower(a.local) + "@" + a.domain;
}

}  // namespace postern::mapping
