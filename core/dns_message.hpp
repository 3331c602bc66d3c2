// What c-ares's reply parsers leave out of a raw DNS answer: the TTLs, for the
// resolver's cache (DESIGN.md section 6). Pure functions over the message
// bytes (RFC 1035 section 4.1), no I/O, safe on truncated or hostile input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace postern::core {

// The smallest TTL of the answer section's records of `rr_type` (1 = A,
// 28 = AAAA, 15 = MX, 16 = TXT, 12 = PTR); nullopt when there is none or the
// message is malformed.
std::optional<std::uint32_t> dns_answer_ttl(std::span<const unsigned char> message, int rr_type);

// How long a negative answer (NXDOMAIN, NODATA) may be cached, from the SOA
// record of the authority section: min(SOA TTL, SOA MINIMUM) (RFC 2308
// section 5); nullopt when there is no SOA.
std::optional<std::uint32_t> dns_negative_ttl(std::span<const unsigned char> message);

// A domain name as the resolver queries and caches it: lower case, without the
// trailing dot. nullopt when it is not a name we send: empty, over 253
// characters, an empty or over-63 label, or a byte outside printable ASCII,
// a space or a backslash (c-ares would read it as an escape).
std::optional<std::string> normalize_dns_name(std::string_view name);

}  // namespace postern::core
