// Message flags as IMAP writes and reads them (RFC 3501 sections 2.3.2, 7.2.6,
// 9 "flag-list"): system flags are store::FlagBits, keywords are atoms kept by
// the store as names (on the way in) or a bit mask into the mailbox's keyword
// table (on the way out).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/store/store_types.hpp"
#include "core/imap_parser.hpp"

namespace postern::node::imap {

// "(\Seen \Answered \Recent $Forwarded)": system flags in bit order (\Seen
// \Answered \Flagged \Deleted \Draft), then \Recent, then the keywords whose bit
// is set in `keywords` (bit i names keyword_names[i]; bits past its end are
// ignored).
std::string format_flags(store::FlagBits flags, std::uint64_t keywords,
                         std::span<const std::string> keyword_names, bool recent);

// The same, appended to `out` without temporaries (FETCH FLAGS for 100,000
// messages).
void append_flags(std::string& out, store::FlagBits flags, std::uint64_t keywords,
                  std::span<const std::string> keyword_names, bool recent);

struct FlagList {
  store::FlagBits flags = 0;
  std::vector<std::string> keywords;  // as sent; duplicates (case-insensitive) dropped

  bool operator==(const FlagList&) const = default;
};

// A flag list token "(\Seen foo)" or, when `allow_single` (STORE), one atom
// "\Seen". System flags are matched case-insensitively; "\Recent" and unknown
// "\X" flags are errors, as is a keyword that is not a valid atom. The error
// text is for a tagged BAD.
tl::expected<FlagList, std::string> parse_flag_list(const core::imap::Token& token,
                                                    bool allow_single);

// STORE's argument after "+FLAGS" etc.: RFC 3501 allows a flag list or one or
// more bare flags ("\Seen \Deleted"). `args` must not be empty.
tl::expected<FlagList, std::string> parse_store_flags(std::span<const core::imap::Token> args);

// "(\Answered \Flagged \Deleted \Seen \Draft $Forwarded)" for "* FLAGS", and
// with `with_star` the "\*" that PERMANENTFLAGS ends with when clients may
// create keywords.
std::string format_flag_names(std::span<const std::string> keyword_names, bool with_star);

}  // namespace postern::node::imap
