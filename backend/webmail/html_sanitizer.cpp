#include "backend/webmail/html_sanitizer.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <vector>

#include "backend/mime/charset.hpp"
#include "backend/webmail/html_policy.hpp"
#include "backend/webmail/html_tokenizer.hpp"
#include "core/html_escape.hpp"

namespace postern::node::webmail {

namespace {

// Open elements nested deeper than this are dropped (their content kept): a
// mail is not allowed to build a DOM deep enough to hurt the browser.
constexpr std::size_t kMaxDepth = 200;
// Longer plain attribute values (title, alt, ...) are dropped.
constexpr std::size_t kMaxPlainAttribute = 1000;

// Sizes and first letters before memcmp: called several times per tag.
template <std::size_t N>
bool in(const std::array<std::string_view, N>& set, std::string_view name) {
  return std::any_of(set.begin(), set.end(), [name](std::string_view s) {
    return s.size() == name.size() && !s.empty() && s.front() == name.front() && s == name;
  });
}

constexpr std::array kClosesP = std::to_array<std::string_view>({
    "address", "article",    "aside",  "blockquote", "center",  "details", "div",
    "dl",      "figcaption", "figure", "footer",     "h1",      "h2",      "h3",
    "h4",      "h5",         "h6",     "header",     "hr",      "main",    "nav",
    "ol",      "p",          "pre",    "section",    "summary", "table",   "ul",
});

constexpr std::array kTableParts = std::to_array<std::string_view>(
    {"table", "caption", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th"});

constexpr std::array kCellStops = std::to_array<std::string_view>({"table", "td", "th", "caption"});

class Sanitizer {
 public:
  Sanitizer(const SanitizeOptions& options, SanitizedHtml& result)
      : options_(options), result_(result) {}

  void run(std::string_view html) {
    HtmlTokenizer tokenizer(html);
    HtmlToken token;
    while (tokenizer.next(token)) {
      switch (token.kind) {
        case HtmlToken::Kind::Text:
          on_text(token);
          break;
        case HtmlToken::Kind::StartTag:
          on_start(token);
          break;
        case HtmlToken::Kind::EndTag:
          on_end(token.name);
          break;
      }
    }
    while (!open_.empty()) pop();
  }

 private:
  void on_text(const HtmlToken& token) {
    if (skip_depth_ > 0) return;
    if (token.raw && drops_content(token.raw_element)) return;
    core::append_html_escaped(result_.html, token.text, false);
  }

  void on_start(const HtmlToken& token) {
    const std::string& name = token.name;
    if (skip_depth_ > 0) {
      if (name == skip_element_ && !token.self_closing) ++skip_depth_;
      return;
    }
    if (drops_content(name)) {
      // Raw-text elements (script, style...) come back as one raw token that
      // on_text() drops; the others are skipped to their end tag.
      const bool raw = name == "script" || name == "style" || name == "title" || name == "iframe" ||
                       name == "noembed" || name == "noframes";
      const bool foreign_void = (name == "svg" || name == "math") && token.self_closing;
      if (!raw && !foreign_void) {
        skip_element_ = name;
        skip_depth_ = 1;
      }
      return;
    }
    if (!is_allowed_element(name)) return;
    close_implied(name);
    const bool is_void = is_void_element(name);
    if (!is_void && open_.size() >= kMaxDepth) return;

    std::string attributes;
    if (!render_attributes(token, attributes)) return;
    result_.html += '<';
    result_.html += name;
    result_.html += attributes;
    result_.html += '>';
    if (!is_void) push(name);
  }

  void on_end(const std::string& name) {
    if (skip_depth_ > 0) {
      if (name == skip_element_ && --skip_depth_ == 0) skip_element_.clear();
      return;
    }
    if (!is_allowed_element(name) || is_void_element(name)) return;
    // An end tag does not close elements outside the table cell it is in.
    if (in(kTableParts, name)) {
      close_to(name, std::to_array<std::string_view>({"table"}));
    } else {
      close_to(name, kCellStops);
    }
  }

  // The implied end tags browsers apply, so nesting looks as the sender saw it.
  void close_implied(std::string_view name) {
    if (in(kClosesP, name)) close_to("p", kCellStops);
    if (name == "li") {
      close_to("li", std::to_array<std::string_view>({"ul", "ol", "table", "td", "th"}));
    } else if (name == "dt" || name == "dd") {
      constexpr std::array kStops = std::to_array<std::string_view>({"dl", "table", "td", "th"});
      close_to("dd", kStops);
      close_to("dt", kStops);
    } else if (name == "td" || name == "th") {
      constexpr std::array kStops = std::to_array<std::string_view>({"table", "tr"});
      close_to("td", kStops);
      close_to("th", kStops);
    } else if (name == "tr") {
      close_to("tr", std::to_array<std::string_view>({"table"}));
    } else if (name == "a") {
      close_to("a", kCellStops);
    }
  }

  // Appends the allowed attributes; false when the element must go (an image
  // whose source is blocked or unusable).
  bool render_attributes(const HtmlToken& token, std::string& out) {
    const std::string& element = token.name;
    bool has_href = false;
    bool fragment = false;
    bool has_src = false;
    for (const HtmlAttribute& a : token.attributes) {
      std::string value;
      switch (attribute_kind(element, a.name)) {
        case AttributeKind::Drop:
          continue;
        case AttributeKind::Plain:
          if (a.value.size() > kMaxPlainAttribute) continue;
          value = a.value;
          break;
        case AttributeKind::Style:
          value = sanitize_style(a.value);
          if (value.empty()) continue;
          break;
        case AttributeKind::Url: {
          const CheckedUrl url = check_url(a.value);
          value = allowed_url(element, a.name, url);
          if (value.empty()) continue;
          if (a.name == "href") {
            has_href = true;
            fragment = url.scheme == UrlScheme::Fragment;
          }
          if (a.name == "src") has_src = true;
          break;
        }
      }
      out += ' ';
      out += a.name;
      out += "=\"";
      core::append_html_escaped(out, value, true);
      out += '"';
    }
    if (element == "img" && !has_src) return false;
    if (has_href && !fragment && options_.links_open_outside) {
      out += " target=\"_blank\" rel=\"noopener noreferrer\"";
    }
    return true;
  }

  // The URL to write for attribute `attribute`, or "" to drop it.
  std::string allowed_url(std::string_view element, std::string_view attribute,
                          const CheckedUrl& url) {
    switch (url.scheme) {
      case UrlScheme::Http:
      case UrlScheme::Https:
        if (attribute == "href") return url.url;
        if (options_.allow_remote_images) return url.url;
        ++result_.remote_images;
        return {};
      case UrlScheme::Cid: {
        if (!options_.resolve_cid) return {};
        return options_.resolve_cid(cid_content_id(url.url));
      }
      case UrlScheme::Mailto:
        return attribute == "href" ? url.url : std::string();
      case UrlScheme::Fragment:
        return attribute == "href" ? url.url : std::string();
      case UrlScheme::DataImage:
        return element == "img" ? url.url : std::string();
      case UrlScheme::Other:
        return {};
    }
    return {};
  }

  // Closes the topmost open `target` unless one of `stops` is open above it.
  // Constant time per call plus the elements it closes: a mail of a million
  // stray end tags over a deep stack must not search the stack each time.
  template <std::size_t N>
  void close_to(std::string_view target, const std::array<std::string_view, N>& stops) {
    const std::size_t t = topmost(target);
    if (t == 0) return;
    for (std::string_view stop : stops) {
      if (stop != target && topmost(stop) > t) return;
    }
    while (open_.size() >= t) pop();
  }

  // 1 + the index in open_ of the topmost open `name`; 0 when none is open.
  std::size_t topmost(std::string_view name) const {
    const auto it = positions_.find(name);
    return it == positions_.end() || it->second.empty() ? 0 : it->second.back() + 1;
  }

  void push(const std::string& name) {
    auto it = positions_.find(name);
    if (it == positions_.end()) it = positions_.emplace(name, std::vector<std::size_t>{}).first;
    it->second.push_back(open_.size());
    open_.push_back(name);
  }

  void pop() {
    result_.html += "</";
    result_.html += open_.back();
    result_.html += '>';
    positions_.find(open_.back())->second.pop_back();
    open_.pop_back();
  }

  const SanitizeOptions& options_;
  SanitizedHtml& result_;
  std::vector<std::string> open_;  // allowed elements written and not yet closed
  // For each element name, its indexes in open_, innermost last.
  std::map<std::string, std::vector<std::size_t>, std::less<>> positions_;
  std::string skip_element_;  // dropping everything inside this element
  std::size_t skip_depth_ = 0;
};

}  // namespace

SanitizedHtml sanitize_html(std::string_view html, const SanitizeOptions& options) {
  std::string valid;
  valid.reserve(html.size());
  mime::append_valid_utf8(valid, html);
  SanitizedHtml result;
  result.html.reserve(valid.size());
  Sanitizer(options, result).run(valid);
  return result;
}

}  // namespace postern::node::webmail
