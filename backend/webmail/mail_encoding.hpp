// The writing side of MIME for message_composer.hpp: RFC 2047 encoded words,
// quoted-printable and base64 bodies, RFC 2231 parameters, header folding.
// Everything produced is 7-bit with CRLF line ends.
#pragma once

#include <string>
#include <string_view>

namespace postern::node::webmail {

// Where header lines are folded (RFC 5322 section 2.1.1: 78 characters
// before the CRLF).
inline constexpr std::size_t kFoldColumn = 78;

bool is_ascii(std::string_view s);

// `text` (UTF-8) as "=?utf-8?B?...?=" words of at most 68 characters, never
// splitting a character, joined by "\r\n " (folded).
std::string encode_words(std::string_view text);

// An unstructured header value (Subject): as is when it is printable ASCII
// that cannot be mistaken for encoded words, folded at blanks to about 78
// columns; else encoded words. `name_length`: the field name and ": ".
std::string encode_unstructured(std::string_view text, std::size_t name_length);

// A display name for an address: an atom run as is, other ASCII as a quoted
// string, non-ASCII as encoded words. "" stays "".
std::string encode_display_name(std::string_view name);

// Quoted-printable (RFC 2045 section 6.7) of text whose line ends are CRLF:
// lines at most 76 characters with soft breaks, trailing blanks encoded.
std::string encode_quoted_printable(std::string_view text);

// Base64 in lines of 76 characters, each ended by CRLF.
std::string encode_base64_lines(std::string_view bytes);

// "; name=value" for a MIME parameter: a token or quoted string when ASCII,
// else RFC 2231 "name*=utf-8''%XX", split into name*0*, name*1* ... sections
// when long. Each parameter starts on a folded line.
std::string encode_parameter(std::string_view name, std::string_view value);

// Any line end (CR, LF, CRLF) becomes CRLF.
std::string crlf_line_ends(std::string_view text);

}  // namespace postern::node::webmail
