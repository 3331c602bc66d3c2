// Logins and addresses: the one place that turns what a user typed into the
// canonical address every lookup and cache key uses.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace postern::mapping {

struct Address {
  std::string local;   // as given (local parts may be case-sensitive, RFC 5321 2.4)
  std::string domain;  // lower-case
  std::string full() const { return local + "@" + domain; }
};

enum class AddressError { Empty, TooLong, BadCharacter, EmptyLocal, EmptyDomain, NoDomain };
std::string_view address_error_text(AddressError e);

constexpr std::size_t kMaxAddressBytes = 320;  // 64 local + @ + 255 domain (RFC 5321 4.5.3.1)

// "alice" -> alice@<primary_domain>; "Alice@Example.COM" -> Alice@example.com.
// Rejects control characters (NUL, CR, LF ...), spaces, a second '@' and empty
// parts, so nothing a client types can smuggle syntax into a directory query or
// a log line. `primary_domain` may be empty: then a login without '@' is refused.
tl::expected<Address, AddressError> parse_login(std::string_view login,
                                                std::string_view primary_domain);

// A cache key for a login: the canonical address with the local part lower-cased
// too, since every source here matches logins case-insensitively.
std::string login_key(const Address& a);

}  // namespace postern::mapping
