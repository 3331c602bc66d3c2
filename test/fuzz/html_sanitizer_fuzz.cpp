// libFuzzer target for the HTML sanitiser: whatever the input, the output must
// be made only of allowed elements with allowed attributes, balanced, with no
// event handler, no script-capable URL and no CSS that loads or runs anything,
// and sanitising the output again must change nothing (without a cid
// resolver). The first byte picks the options.
//
// The URL oracle is independent of the sanitiser: it decodes the output's
// attribute values itself and reads their scheme as the WHATWG URL parser
// does, so a scheme the sanitiser misclassifies (in check_url or in its
// entity decoder) fails here instead of passing both sides.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/webmail/html_policy.hpp"
#include "backend/webmail/html_sanitizer.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace webmail = postern::node::webmail;
using postern::fuzz::require;

namespace {

constexpr std::string_view kResolved = "/parts/";

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

// The sanitiser re-escapes every attribute value with exactly these four
// references; anything else after a '&' means raw input reached the output.
std::string decode_attribute(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '&') {
      require(v[i] != '<' && v[i] != '>' && v[i] != '"');
      out += v[i];
      continue;
    }
    const std::string_view rest = v.substr(i);
    if (rest.starts_with("&amp;")) {
      out += '&';
      i += 4;
    } else if (rest.starts_with("&lt;")) {
      out += '<';
      i += 3;
    } else if (rest.starts_with("&gt;")) {
      out += '>';
      i += 3;
    } else if (rest.starts_with("&quot;")) {
      out += '"';
      i += 5;
    } else {
      require(false);
    }
  }
  return out;
}

// What the URL parser sees: leading and trailing C0 controls and spaces
// removed, ASCII tab, LF and CR removed anywhere.
std::string url_as_parsed(std::string_view v) {
  auto c0_or_space = [](char c) { return static_cast<unsigned char>(c) <= 0x20; };
  while (!v.empty() && c0_or_space(v.front())) v.remove_prefix(1);
  while (!v.empty() && c0_or_space(v.back())) v.remove_suffix(1);
  std::string out;
  for (char c : v) {
    if (c != '\t' && c != '\n' && c != '\r') out += c;
  }
  return out;
}

// No scheme: no ':' before the first '/', '?' or '#'.
bool is_relative(std::string_view url) {
  const std::size_t colon = url.find(':');
  return colon == std::string_view::npos || url.find_first_of("/?#") < colon;
}

// "//host" (or "/\host", "\\host": backslash is a slash for http) names
// another host: as remote as http:.
bool is_network_path(std::string_view url) {
  return url.size() >= 2 && (url[0] == '/' || url[0] == '\\') && (url[1] == '/' || url[1] == '\\');
}

bool is_remote(std::string_view url) {
  return starts_with_nocase(url, "http:") || starts_with_nocase(url, "https:") ||
         is_network_path(url);
}

bool is_data_image(std::string_view url) {
  // "jpg" is not a registered type but what some mailers write; an image
  // all the same.
  for (std::string_view type : {"png", "gif", "jpeg", "jpg", "webp"}) {
    const std::string prefix = "data:image/" + std::string(type);
    if (starts_with_nocase(url, prefix) && url.size() > prefix.size() &&
        (url[prefix.size()] == ';' || url[prefix.size()] == ',')) {
      return true;
    }
  }
  return false;
}

// Attributes through which some element loads or navigates to a URL.
bool carries_url(std::string_view attribute) {
  for (std::string_view a : {"href",   "src",     "background", "action",  "formaction", "poster",
                             "srcset", "cite",    "longdesc",   "lowsrc",  "dynsrc",     "usemap",
                             "ping",   "data",    "codebase",   "classid", "archive",    "manifest",
                             "icon",   "profile", "xlink:href", "xmlns",   "srcdoc"}) {
    if (attribute == a) return true;
  }
  return false;
}

struct Options {
  bool remote_allowed = false;
  bool resolves_cid = false;
};

void check_url_value(std::string_view element, std::string_view attribute,
                     std::string_view raw_value, Options options) {
  const std::string url = url_as_parsed(raw_value);
  // A relative URL would point into WebMail itself: only what the cid
  // resolver returned may be one.
  const bool relative =
      is_relative(url) && options.resolves_cid && url.starts_with(kResolved) && !is_remote(url);
  if (attribute == "href") {
    require(element == "a");
    require(starts_with_nocase(url, "http:") || starts_with_nocase(url, "https:") ||
            starts_with_nocase(url, "mailto:") || starts_with_nocase(url, "cid:") ||
            url.starts_with('#') || relative);
    return;
  }
  require(attribute == "src" || attribute == "background");
  require(attribute == "background" || element == "img");
  const bool data_image = element == "img" && attribute == "src" && is_data_image(url);
  require(starts_with_nocase(url, "http:") || starts_with_nocase(url, "https:") ||
          starts_with_nocase(url, "cid:") || data_image || relative);
  if (!options.remote_allowed) require(!is_remote(url));
}

void check_style(const std::string& value) {
  const std::string v = lowered(value);
  for (std::string_view banned :
       {"url(", "expression", "javascript", "import", "\\", "behavior", "position:", "binding"}) {
    require(v.find(banned) == std::string::npos);
  }
}

// Reads the sanitiser's own output format: `<name attr="value">`, `</name>`.
void check_output(const std::string& out, Options options) {
  std::vector<std::string> open;
  std::size_t i = 0;
  while ((i = out.find('<', i)) != std::string::npos) {
    const std::size_t gt = out.find('>', i);
    require(gt != std::string::npos);
    std::string_view tag = std::string_view(out).substr(i + 1, gt - i - 1);
    i = gt + 1;
    if (tag.starts_with('/')) {
      require(!open.empty() && open.back() == tag.substr(1));
      open.pop_back();
      continue;
    }
    const std::size_t space = std::min(tag.find(' '), tag.size());
    const std::string name(tag.substr(0, space));
    require(webmail::is_allowed_element(name));
    std::string_view rest = tag.substr(space);
    while (!rest.empty()) {
      require(rest.front() == ' ');
      const std::size_t eq = rest.find("=\"");
      require(eq != std::string_view::npos);
      const std::string attribute(rest.substr(1, eq - 1));
      const std::size_t close = rest.find('"', eq + 2);
      require(close != std::string_view::npos);
      const std::string value = decode_attribute(rest.substr(eq + 2, close - eq - 2));
      rest.remove_prefix(close + 1);
      for (char c : attribute) require(c >= 'a' && c <= 'z');
      require(!attribute.starts_with("on"));
      if (attribute == "target" || attribute == "rel") {
        require(name == "a");
        require(value == (attribute == "target" ? "_blank" : "noopener noreferrer"));
        continue;
      }
      if (carries_url(attribute)) check_url_value(name, attribute, value, options);
      const auto kind = webmail::attribute_kind(name, attribute);
      require(kind != webmail::AttributeKind::Drop);
      if (kind == webmail::AttributeKind::Style) check_style(value);
    }
    if (!webmail::is_void_element(name)) open.push_back(name);
  }
  require(open.empty());
  const std::string lower_out = lowered(out);
  require(lower_out.find("<script") == std::string::npos);
  require(lower_out.find("<style") == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  webmail::SanitizeOptions options;
  options.allow_remote_images = (data[0] & 1) != 0;
  options.links_open_outside = (data[0] & 2) != 0;
  if (data[0] & 4) {
    options.resolve_cid = [](std::string_view id) {
      return id.size() % 2 == 0 ? std::string(kResolved) + "1" : std::string();
    };
  }
  const webmail::SanitizedHtml once = webmail::sanitize_html(input, options);
  check_output(once.html, {.remote_allowed = options.allow_remote_images,
                           .resolves_cid = static_cast<bool>(options.resolve_cid)});
  if (options.allow_remote_images) require(once.remote_images == 0);
  // A resolved cid: is a relative URL, which a second pass would drop.
  if (!options.resolve_cid) {
    const webmail::SanitizedHtml twice = webmail::sanitize_html(once.html, options);
    require(twice.html == once.html);
  }
  return 0;
}
