// LIST / LSUB patterns (RFC 3501 6.3.8): "*" matches anything, "%" anything
// but the hierarchy delimiter. INBOX (the first level) is case-insensitive.
#pragma once

#include <string>
#include <string_view>

namespace postern::node::imap {

constexpr char kDelimiter = '/';

// `pattern` and `name` are UTF-8 (already decoded from modified UTF-7).
bool list_match(std::string_view pattern, std::string_view name);

// RFC 3501 leaves combining LIST's reference and pattern to the server; we
// append the pattern to the reference, as most servers do, unless the
// pattern starts with the delimiter.
std::string list_combine(std::string_view reference, std::string_view pattern);

}  // namespace postern::node::imap
