// Conversion of text in a MIME charset to UTF-8, for RFC 2047 encoded words and
// RFC 2231 parameter values.
//
// UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15 and Windows-1252 are converted by hand
// (the common cases, with no library state); any other charset goes through
// glibc's iconv. Bytes that are not valid in the charset become U+FFFD, so the
// result of a successful conversion is always valid UTF-8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::node::mime {

// Returns `bytes` converted from `charset` (matched case-insensitively, with the
// usual aliases such as "latin1" and "cp1252") to UTF-8, or nullopt when the
// charset is unknown: the caller then keeps the original text.
std::optional<std::string> charset_to_utf8(std::string_view charset, std::string_view bytes);

// Appends `bytes` to `out`, replacing each maximal ill-formed UTF-8 subsequence
// by U+FFFD (the Unicode "best practice", as Python's errors="replace" does).
void append_valid_utf8(std::string& out, std::string_view bytes);

// Appends the UTF-8 encoding of the code point `cp` (at most U+10FFFF) to `out`.
void append_utf8(std::string& out, char32_t cp);

}  // namespace postern::node::mime
