#include "backend/webmail/html_policy.hpp"

#include <algorithm>
#include <array>

#include "backend/mime/text.hpp"

namespace postern::node::webmail {

namespace {

using mime::ascii_lower;

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& set, std::string_view name) {
  return std::find(set.begin(), set.end(), name) != set.end();
}

// For the lists asked about for every tag: a binary search (they are sorted)
// that compares first letters before calling memcmp, which is what a mail of
// millions of tags spends its time on otherwise.
template <std::size_t N>
bool sorted_contains(const std::array<std::string_view, N>& set, std::string_view name) {
  if (name.empty()) return false;
  return std::binary_search(set.begin(), set.end(), name,
                            [](std::string_view a, std::string_view b) {
                              if (a.front() != b.front()) return a.front() < b.front();
                              return a < b;
                            });
}

constexpr std::array kElements = std::to_array<std::string_view>({
    "a",        "abbr",       "acronym", "address", "article", "aside", "b",    "bdi",
    "big",      "blockquote", "br",      "caption", "center",  "cite",  "code", "col",
    "colgroup", "dd",         "del",     "details", "dfn",     "div",   "dl",   "dt",
    "em",       "figcaption", "figure",  "font",    "footer",  "h1",    "h2",   "h3",
    "h4",       "h5",         "h6",      "header",  "hr",      "i",     "img",  "ins",
    "kbd",      "li",         "main",    "mark",    "nav",     "nobr",  "ol",   "p",
    "pre",      "q",          "s",       "samp",    "section", "small", "span", "strike",
    "strong",   "sub",        "summary", "sup",     "table",   "tbody", "td",   "tfoot",
    "th",       "thead",      "time",    "tr",      "tt",      "u",     "ul",   "var",
    "wbr",
});

constexpr std::array kVoid = std::to_array<std::string_view>({"br", "col", "hr", "img", "wbr"});

constexpr std::array kDropContent = std::to_array<std::string_view>({
    "applet",
    "datalist",
    "frameset",
    "iframe",
    "math",
    "noembed",
    "noframes",
    "object",
    "script",
    "select",
    "style",
    "svg",
    "template",
    "title",
});

constexpr std::array kGlobalAttributes = std::to_array<std::string_view>({"dir", "lang", "title"});

constexpr std::array kTablePartAttributes = std::to_array<std::string_view>(
    {"align", "valign", "bgcolor", "width", "height", "nowrap", "colspan", "rowspan", "scope",
     "border", "cellpadding", "cellspacing", "summary", "frame", "rules", "span"});

AttributeKind element_attribute(std::string_view element, std::string_view attribute) {
  using enum AttributeKind;
  if (element == "a") return attribute == "href" ? Url : Drop;
  if (element == "img") {
    if (attribute == "src") return Url;
    constexpr std::array kImg = std::to_array<std::string_view>(
        {"alt", "width", "height", "border", "align", "hspace", "vspace"});
    return contains(kImg, attribute) ? Plain : Drop;
  }
  if (element == "table" || element == "tr" || element == "td" || element == "th" ||
      element == "thead" || element == "tbody" || element == "tfoot" || element == "col" ||
      element == "colgroup") {
    if (attribute == "background") return Url;
    return contains(kTablePartAttributes, attribute) ? Plain : Drop;
  }
  if (element == "font") {
    return attribute == "color" || attribute == "face" || attribute == "size" ? Plain : Drop;
  }
  if (element == "hr") {
    constexpr std::array kHr =
        std::to_array<std::string_view>({"align", "width", "size", "noshade", "color"});
    return contains(kHr, attribute) ? Plain : Drop;
  }
  if (element == "ol") {
    return attribute == "start" || attribute == "type" || attribute == "reversed" ? Plain : Drop;
  }
  if (element == "ul" || element == "li") {
    return attribute == "type" || (element == "li" && attribute == "value") ? Plain : Drop;
  }
  if (element == "time" || element == "del" || element == "ins") {
    return attribute == "datetime" ? Plain : Drop;
  }
  if (attribute == "align") {
    constexpr std::array kAligned = std::to_array<std::string_view>(
        {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "center"});
    return contains(kAligned, element) ? Plain : Drop;
  }
  return Drop;
}

// CSS properties that lay out and colour text and boxes; nothing that
// positions a box over the page or loads anything. Exact names only.
bool is_allowed_property(std::string_view p) {
  constexpr std::array kProperties = std::to_array<std::string_view>({
      "background",
      "background-color",
      "border",
      "border-bottom",
      "border-bottom-color",
      "border-bottom-left-radius",
      "border-bottom-right-radius",
      "border-bottom-style",
      "border-bottom-width",
      "border-collapse",
      "border-color",
      "border-left",
      "border-left-color",
      "border-left-style",
      "border-left-width",
      "border-radius",
      "border-right",
      "border-right-color",
      "border-right-style",
      "border-right-width",
      "border-spacing",
      "border-style",
      "border-top",
      "border-top-color",
      "border-top-left-radius",
      "border-top-right-radius",
      "border-top-style",
      "border-top-width",
      "border-width",
      "box-sizing",
      "caption-side",
      "clear",
      "color",
      "direction",
      "display",
      "empty-cells",
      "float",
      "font",
      "font-family",
      "font-size",
      "font-stretch",
      "font-style",
      "font-variant",
      "font-weight",
      "height",
      "letter-spacing",
      "line-height",
      "list-style",
      "list-style-position",
      "list-style-type",
      "margin",
      "margin-bottom",
      "margin-left",
      "margin-right",
      "margin-top",
      "max-height",
      "max-width",
      "min-height",
      "min-width",
      "overflow",
      "overflow-wrap",
      "padding",
      "padding-bottom",
      "padding-left",
      "padding-right",
      "padding-top",
      "table-layout",
      "text-align",
      "text-decoration",
      "text-decoration-color",
      "text-decoration-line",
      "text-decoration-style",
      "text-indent",
      "text-overflow",
      "text-shadow",
      "text-transform",
      "vertical-align",
      "white-space",
      "width",
      "word-break",
      "word-spacing",
      "word-wrap",
  });
  return contains(kProperties, p);
}

bool is_css_name_char(char c) {
  return mime::is_ascii_alnum(c) || c == '-';
}

// A value is kept only when every function in it is a colour or calc() and no
// word in it can load or run anything (no ':' either: no value needs one, and
// without it no second declaration can hide inside a value).
bool is_harmless_css_value(std::string_view value) {
  const std::string v = ascii_lower(value);
  constexpr std::array kBanned = std::to_array<std::string_view>(
      {"expression", "javascript", "vbscript", "url", "import", "behavior", "binding", "@", "{",
       "}", "<", ">", "&", "\\", ":"});
  for (std::string_view banned : kBanned) {
    if (v.find(banned) != std::string::npos) return false;
  }
  for (std::size_t open = v.find('('); open != std::string::npos; open = v.find('(', open + 1)) {
    std::size_t start = open;
    while (start > 0 && is_css_name_char(v[start - 1])) --start;
    const std::string_view fn = std::string_view(v).substr(start, open - start);
    if (fn != "rgb" && fn != "rgba" && fn != "hsl" && fn != "hsla" && fn != "calc") return false;
  }
  return std::count(v.begin(), v.end(), '"') % 2 == 0 &&
         std::count(v.begin(), v.end(), '\'') % 2 == 0;
}

// "/* ... */" removed (an unterminated one runs to the end), so that
// "expr/**/ession" is seen whole.
std::string strip_css_comments(std::string_view css) {
  std::string out;
  for (std::size_t i = 0; i < css.size();) {
    if (css.compare(i, 2, "/*") == 0) {
      const std::size_t end = css.find("*/", i + 2);
      if (end == std::string_view::npos) break;
      i = end + 2;
      out += ' ';
      continue;
    }
    out += css[i++];
  }
  return out;
}

std::string_view trim_css(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

bool is_data_image(std::string_view lower_url) {
  constexpr std::array kTypes = std::to_array<std::string_view>(
      {"data:image/png", "data:image/gif", "data:image/jpeg", "data:image/jpg", "data:image/webp"});
  for (std::string_view t : kTypes) {
    if (lower_url.starts_with(t) && lower_url.size() > t.size() &&
        (lower_url[t.size()] == ';' || lower_url[t.size()] == ',')) {
      return true;
    }
  }
  return false;
}

}  // namespace

static_assert(std::is_sorted(kElements.begin(), kElements.end()));
static_assert(std::is_sorted(kVoid.begin(), kVoid.end()));
static_assert(std::is_sorted(kDropContent.begin(), kDropContent.end()));

bool is_allowed_element(std::string_view name) {
  return sorted_contains(kElements, name);
}

bool is_void_element(std::string_view name) {
  return sorted_contains(kVoid, name);
}

bool drops_content(std::string_view name) {
  return sorted_contains(kDropContent, name);
}

AttributeKind attribute_kind(std::string_view element, std::string_view attribute) {
  if (attribute == "style") return AttributeKind::Style;
  if (contains(kGlobalAttributes, attribute)) return AttributeKind::Plain;
  return element_attribute(element, attribute);
}

CheckedUrl check_url(std::string_view value) {
  CheckedUrl result;
  auto ignorable = [](char c) { return static_cast<unsigned char>(c) <= 0x20; };
  while (!value.empty() && ignorable(value.front())) value.remove_prefix(1);
  while (!value.empty() && ignorable(value.back())) value.remove_suffix(1);
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F) result.url += c;  // the URL parser drops tabs and line breaks
  }
  const std::string& url = result.url;
  if (url.starts_with('#')) {
    result.scheme = UrlScheme::Fragment;
    return result;
  }
  std::size_t i = 0;
  while (i < url.size() &&
         (mime::is_ascii_alnum(url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.')) {
    ++i;
  }
  const char first = mime::ascii_lower(url.empty() ? '\0' : url[0]);
  if (i == 0 || i >= url.size() || url[i] != ':' || first < 'a' || first > 'z') {
    return result;  // relative, or no scheme a browser would read
  }
  const std::string scheme = ascii_lower(std::string_view(url).substr(0, i));
  if (scheme == "http") {
    result.scheme = UrlScheme::Http;
  } else if (scheme == "https") {
    result.scheme = UrlScheme::Https;
  } else if (scheme == "mailto") {
    result.scheme = UrlScheme::Mailto;
  } else if (scheme == "cid") {
    result.scheme = UrlScheme::Cid;
  } else if (scheme == "data" && is_data_image(ascii_lower(url))) {
    result.scheme = UrlScheme::DataImage;
  }
  return result;
}

std::string sanitize_style(std::string_view style) {
  const std::string css = strip_css_comments(style);
  // CSS escapes can spell anything ("u\72l("): a style using one is dropped.
  if (css.find('\\') != std::string::npos) return {};
  for (char c : css) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || u == 0x7F) return {};
  }
  std::string out;
  std::size_t start = 0;
  int depth = 0;
  char quote = 0;
  for (std::size_t i = 0; i <= css.size(); ++i) {
    const char c = i < css.size() ? css[i] : ';';
    if (quote != 0) {
      if (c == quote) quote = 0;
      if (i < css.size()) continue;
    } else if (c == '"' || c == '\'') {
      quote = c;
      continue;
    } else if (c == '(') {
      ++depth;
      continue;
    } else if (c == ')') {
      depth = std::max(0, depth - 1);
      continue;
    }
    if (c != ';' || (depth > 0 && i < css.size())) continue;
    const std::string_view decl = std::string_view(css).substr(start, i - start);
    start = i + 1;
    const std::size_t colon = decl.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string property = ascii_lower(trim_css(decl.substr(0, colon)));
    const std::string_view value = trim_css(decl.substr(colon + 1));
    if (value.empty() || !is_allowed_property(property) || !is_harmless_css_value(value)) continue;
    if (!out.empty()) out += "; ";
    out += property;
    out += ": ";
    out += value;
  }
  return out;
}

std::string cid_content_id(std::string_view url) {
  if (url.size() >= 4 && mime::iequals(url.substr(0, 4), "cid:")) url.remove_prefix(4);
  std::string id;
  for (std::size_t i = 0; i < url.size(); ++i) {
    if (url[i] == '%' && i + 2 < url.size() && mime::hex_value(url[i + 1]) >= 0 &&
        mime::hex_value(url[i + 2]) >= 0) {
      id += static_cast<char>(mime::hex_value(url[i + 1]) * 16 + mime::hex_value(url[i + 2]));
      i += 2;
    } else {
      id += url[i];
    }
  }
  return id;
}

}  // namespace postern::node::webmail
