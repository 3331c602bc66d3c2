// The sanitiser's allow-lists (html_sanitizer.hpp): which elements, attributes,
// URL schemes and CSS declarations survive. Split out so each rule can be
// tested alone.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::node::webmail {

// Elements kept (with their allowed attributes); any other is dropped, its
// content kept unless drops_content().
bool is_allowed_element(std::string_view name);
bool is_void_element(std::string_view name);
// Elements whose whole content goes with them (script, style, svg, ...).
bool drops_content(std::string_view name);

enum class AttributeKind { Drop, Plain, Url, Style };
// How attribute `attribute` of element `element` is treated.
AttributeKind attribute_kind(std::string_view element, std::string_view attribute);

enum class UrlScheme { Http, Https, Mailto, Cid, DataImage, Fragment, Other };
struct CheckedUrl {
  UrlScheme scheme = UrlScheme::Other;
  std::string url;  // blanks and control characters removed
};
// Classifies a decoded attribute value as a browser would read it: leading
// and trailing C0 controls and spaces are ignored and tabs and line breaks
// anywhere removed before the scheme is matched case-insensitively. A URL
// without a scheme is Other (relative URLs mean nothing in a mail) except a
// "#fragment".
CheckedUrl check_url(std::string_view value);

// The style attribute's declarations reduced to the allowed properties with
// harmless values ("color: red; font-size: 12px"); "" when none is left.
std::string sanitize_style(std::string_view style);

// Percent-decodes a cid: URL's content id (RFC 2392).
std::string cid_content_id(std::string_view url);

}  // namespace postern::node::webmail
