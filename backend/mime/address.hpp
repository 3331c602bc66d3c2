// RFC 5322 address lists, as IMAP's ENVELOPE needs them (RFC 3501 section 7.4.2).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::node::mime {

// Stand-ins for a missing local part or domain, as Dovecot writes them: an
// ENVELOPE address with a NIL host would read as group syntax.
inline constexpr std::string_view kMissingMailbox = "MISSING_MAILBOX";
inline constexpr std::string_view kMissingDomain = "MISSING_DOMAIN";

// One ENVELOPE address. The source route (obsolete) is never kept: IMAP gets NIL.
//
// Group syntax is flattened as RFC 3501 does: "team: a@x, b@y;" becomes a start
// marker {mailbox = "team", no host}, the members, and an end marker (nothing set).
struct Address {
  std::optional<std::string> name;     // display name, else a comment after the address;
                                       // as written (quotes removed, encoded words kept)
  std::optional<std::string> mailbox;  // local part (quotes removed), or the group name
  std::optional<std::string> host;     // domain; nullopt only for group markers

  bool is_group_start() const { return !host && mailbox; }
  bool is_group_end() const { return !host && !mailbox; }
  bool operator==(const Address&) const = default;
};

// Parses an unfolded address-list header value. Liberal: garbage between
// addresses is skipped, a group without ';' is closed at the end, a mailbox
// without '@' gets kMissingDomain. Returns an empty list when nothing parses.
std::vector<Address> parse_address_list(std::string_view value);

}  // namespace postern::node::mime
