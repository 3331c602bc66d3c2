// Mailbox name rules. Names are UTF-8 (the IMAP layer decodes modified
// UTF-7), "/" separates hierarchy levels, and "INBOX" is case-insensitive
// (RFC 3501 5.1). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "backend/store/store_error.hpp"

namespace postern::node::store {

constexpr char kHierarchySeparator = '/';
constexpr std::size_t kMaxMailboxNameBytes = 1024;
constexpr std::size_t kMaxMailboxDepth = 32;

// The canonical form of `name`, or an error:
//  - one trailing separator is dropped (RFC 3501 CREATE "foo/" creates "foo");
//  - a first level spelled "inbox" in any case becomes "INBOX";
//  - BadArgument: empty, empty level ("a//b", "/a"), level "." or "..",
//    invalid UTF-8, control characters, or the LIST wildcards '*' and '%';
//  - Limit: longer than kMaxMailboxNameBytes or deeper than kMaxMailboxDepth.
StoreResult<std::string> normalize_mailbox_name(std::string_view name);

// "a/b/c" -> "a/b"; "" for a top-level name.
std::string_view parent_mailbox_name(std::string_view name);

// Whether `name` lies strictly below `ancestor` ("a/b" below "a", not "ab").
bool is_inferior_name(std::string_view name, std::string_view ancestor);

// The exclusive upper bound of the names below `name` in byte order: the
// inferiors of "a" are exactly the names in ["a/", "a0").
std::string inferiors_begin(std::string_view name);
std::string inferiors_end(std::string_view name);

bool is_valid_utf8(std::string_view text);

}  // namespace postern::node::store
