// The structured MIME header fields: Content-Type and Content-Disposition with
// their parameters (RFC 2045, RFC 2183), RFC 2231 parameter value extensions,
// Content-Transfer-Encoding and Content-Language.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::node::mime {

// Parameters in order of first appearance: lower-case name, decoded value.
using Params = std::vector<std::pair<std::string, std::string>>;

struct ContentType {
  std::string type;     // lower-case
  std::string subtype;  // lower-case
  Params params;
};

struct ContentDisposition {
  std::string type;  // lower-case ("inline", "attachment", ...)
  Params params;
};

// "type/subtype *(; parameter)". Comments and blanks are tolerated anywhere a
// token may be surrounded by them. nullopt when there is no "type/subtype".
std::optional<ContentType> parse_content_type(std::string_view value);

// "type *(; parameter)". nullopt when there is no disposition type.
std::optional<ContentDisposition> parse_content_disposition(std::string_view value);

// The parameter list after the first token: "; a=b; c=\"d\"".
//
// Values may be tokens, quoted strings (escapes removed) or, as real mailers
// write them, unquoted text up to the next ';'. RFC 2231 forms are decoded:
// continuations (name*0, name*1*, ...) are joined in order, and extended values
// (name*=charset'lang'%XX) are percent-decoded and converted to UTF-8 (bytes in
// an unknown charset are kept). When both `name` and `name*` appear the
// extended one wins. Names are lower-cased; the first occurrence of a name wins.
Params parse_parameters(std::string_view text);

// RFC 2045 token character: printable ASCII other than space and tspecials.
bool is_mime_token_char(char c);

// A Content-Transfer-Encoding value: its token, lower-cased; nullopt when the
// value does not start with a token (the caller then uses "7bit").
std::optional<std::string> parse_mime_token(std::string_view value);

// Content-Language (RFC 3282): the comma-separated tags, as written.
std::vector<std::string> parse_language_list(std::string_view value);

}  // namespace postern::node::mime
