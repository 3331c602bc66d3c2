// Escaping of values placed into LDAP filters and DNs. Every value that comes
// from a client goes through one of these before it reaches the directory;
// skipping them is an LDAP injection bug.
#pragma once

#include <string>
#include <string_view>

namespace postern::mapping {

// RFC 4515 section 3: in a filter assertion value, '*', '(', ')', '\' and NUL
// must be written as \2a \28 \29 \5c \00. We also escape the other control
// bytes so a filter never carries raw line breaks. UTF-8 passes through.
std::string escape_filter_value(std::string_view value);

// RFC 4514 section 2.4: in a DN attribute value, '"' '+' ',' ';' '<' '>' '\'
// are backslash-escaped, as are a leading '#' or space and a trailing space;
// NUL and other control bytes become \XX. '=' is escaped too, which the RFC
// allows and some servers' parsers prefer.
std::string escape_dn_value(std::string_view value);

}  // namespace postern::mapping
