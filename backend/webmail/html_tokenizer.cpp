#include "backend/webmail/html_tokenizer.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "backend/mime/charset.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::webmail {

namespace {

using mime::ascii_lower;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The references mail actually uses, plus those used to hide URL schemes
// (&colon; &Tab; &NewLine;). An unknown reference stays as written and is
// re-escaped on output, so it can only show, never act.
struct NamedEntity {
  std::string_view name;
  char32_t cp;
};
constexpr std::array kEntities = std::to_array<NamedEntity>({
    {"AElig", 0xC6},    {"Aacute", 0xC1},   {"Acirc", 0xC2},    {"Agrave", 0xC0},
    {"Aring", 0xC5},    {"Atilde", 0xC3},   {"Auml", 0xC4},     {"Ccedil", 0xC7},
    {"Eacute", 0xC9},   {"Ecirc", 0xCA},    {"Egrave", 0xC8},   {"Euml", 0xCB},
    {"Iacute", 0xCD},   {"Icirc", 0xCE},    {"Iuml", 0xCF},     {"NewLine", 0x0A},
    {"Ntilde", 0xD1},   {"Oacute", 0xD3},   {"Ocirc", 0xD4},    {"Ograve", 0xD2},
    {"Oslash", 0xD8},   {"Otilde", 0xD5},   {"Ouml", 0xD6},     {"Tab", 0x09},
    {"Uacute", 0xDA},   {"Ucirc", 0xDB},    {"Ugrave", 0xD9},   {"Uuml", 0xDC},
    {"Yacute", 0xDD},   {"aacute", 0xE1},   {"acirc", 0xE2},    {"acute", 0xB4},
    {"aelig", 0xE6},    {"agrave", 0xE0},   {"amp", '&'},       {"apos", '\''},
    {"aring", 0xE5},    {"atilde", 0xE3},   {"auml", 0xE4},     {"bdquo", 0x201E},
    {"brvbar", 0xA6},   {"bull", 0x2022},   {"ccedil", 0xE7},   {"cedil", 0xB8},
    {"cent", 0xA2},     {"colon", ':'},     {"comma", ','},     {"copy", 0xA9},
    {"curren", 0xA4},   {"dagger", 0x2020}, {"deg", 0xB0},      {"divide", 0xF7},
    {"eacute", 0xE9},   {"ecirc", 0xEA},    {"egrave", 0xE8},   {"emsp", 0x2003},
    {"ensp", 0x2002},   {"eth", 0xF0},      {"euml", 0xEB},     {"euro", 0x20AC},
    {"frac12", 0xBD},   {"frac14", 0xBC},   {"frac34", 0xBE},   {"gt", '>'},
    {"hellip", 0x2026}, {"iacute", 0xED},   {"icirc", 0xEE},    {"iexcl", 0xA1},
    {"igrave", 0xEC},   {"iquest", 0xBF},   {"iuml", 0xEF},     {"laquo", 0xAB},
    {"larr", 0x2190},   {"ldquo", 0x201C},  {"lowast", 0x2217}, {"lpar", '('},
    {"lrm", 0x200E},    {"lsaquo", 0x2039}, {"lsquo", 0x2018},  {"lt", '<'},
    {"macr", 0xAF},     {"mdash", 0x2014},  {"micro", 0xB5},    {"middot", 0xB7},
    {"minus", 0x2212},  {"nbsp", 0xA0},     {"ndash", 0x2013},  {"not", 0xAC},
    {"ntilde", 0xF1},   {"oacute", 0xF3},   {"ocirc", 0xF4},    {"oelig", 0x153},
    {"ograve", 0xF2},   {"ordf", 0xAA},     {"ordm", 0xBA},     {"oslash", 0xF8},
    {"otilde", 0xF5},   {"ouml", 0xF6},     {"para", 0xB6},     {"period", '.'},
    {"permil", 0x2030}, {"plusmn", 0xB1},   {"pound", 0xA3},    {"quot", '"'},
    {"raquo", 0xBB},    {"rarr", 0x2192},   {"rdquo", 0x201D},  {"reg", 0xAE},
    {"rlm", 0x200F},    {"rpar", ')'},      {"rsaquo", 0x203A}, {"rsquo", 0x2019},
    {"sbquo", 0x201A},  {"sect", 0xA7},     {"semi", ';'},      {"shy", 0xAD},
    {"sol", '/'},       {"sup1", 0xB9},     {"sup2", 0xB2},     {"sup3", 0xB3},
    {"szlig", 0xDF},    {"thinsp", 0x2009}, {"thorn", 0xFE},    {"times", 0xD7},
    {"trade", 0x2122},  {"uacute", 0xFA},   {"ucirc", 0xFB},    {"ugrave", 0xF9},
    {"uml", 0xA8},      {"uuml", 0xFC},     {"yacute", 0xFD},   {"yen", 0xA5},
    {"yuml", 0xFF},     {"zwj", 0x200D},    {"zwnj", 0x200C},
});

// References browsers still decode without the ';' (the common ones).
bool is_legacy_entity(std::string_view name) {
  return name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "nbsp" ||
         name == "copy" || name == "reg";
}

// Sorted (byte order) so that a lookup is a binary search: a mail of
// millions of unknown references costs a few comparisons each.
static_assert(std::is_sorted(kEntities.begin(), kEntities.end(),
                             [](const NamedEntity& a, const NamedEntity& b) {
                               return a.name < b.name;
                             }));

const NamedEntity* find_entity(std::string_view name) {
  const auto it =
      std::lower_bound(kEntities.begin(), kEntities.end(), name,
                       [](const NamedEntity& e, std::string_view n) { return e.name < n; });
  return it != kEntities.end() && it->name == name ? &*it : nullptr;
}

// Numeric references in 0x80..0x9F mean Windows-1252 (HTML5 section 13.2.5.80).
constexpr std::array<char32_t, 32> kC1Remap = {
    0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

char32_t sane_code_point(std::uint64_t v) {
  if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0xFFFD;
  if (v >= 0x80 && v <= 0x9F) return kC1Remap[v - 0x80];
  return static_cast<char32_t>(v);
}

// Decodes one reference at text[i] == '&'; returns the bytes consumed (0: none).
std::size_t decode_reference(std::string_view text, std::size_t i, bool in_attribute,
                             std::string& out) {
  std::size_t j = i + 1;
  if (j < text.size() && text[j] == '#') {
    ++j;
    const bool hex = j < text.size() && (text[j] == 'x' || text[j] == 'X');
    if (hex) ++j;
    const std::size_t digits_start = j;
    std::uint64_t value = 0;
    while (j < text.size()) {
      const int d =
          hex ? mime::hex_value(text[j]) : (text[j] >= '0' && text[j] <= '9' ? text[j] - '0' : -1);
      if (d < 0) break;
      value = std::min<std::uint64_t>(value * (hex ? 16 : 10) + static_cast<unsigned>(d), 0x110000);
      ++j;
    }
    if (j == digits_start) return 0;
    if (j < text.size() && text[j] == ';') ++j;
    mime::append_utf8(out, sane_code_point(value));
    return j - i;
  }
  while (j < text.size() && j - i <= 32 && mime::is_ascii_alnum(text[j])) ++j;
  const std::string_view name = text.substr(i + 1, j - i - 1);
  if (name.empty()) return 0;
  const bool semicolon = j < text.size() && text[j] == ';';
  if (!semicolon) {
    if (!is_legacy_entity(name)) return 0;
    if (in_attribute && j < text.size() && (mime::is_ascii_alnum(text[j]) || text[j] == '=')) {
      return 0;
    }
  }
  const NamedEntity* e = find_entity(name);
  if (e == nullptr) return 0;
  mime::append_utf8(out, e->cp);
  return j - i + (semicolon ? 1 : 0);
}

bool is_raw_text_element(std::string_view name) {
  return name == "script" || name == "style" || name == "title" || name == "textarea" ||
         name == "xmp" || name == "iframe" || name == "noembed" || name == "noframes" ||
         name == "plaintext";
}

}  // namespace

std::string decode_html_entities(std::string_view text, bool in_attribute) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '&') {
      if (const std::size_t used = decode_reference(text, i, in_attribute, out); used > 0) {
        i += used;
        continue;
      }
    }
    if (text[i] != '\0') out += text[i];  // NUL never reaches the output
    ++i;
  }
  return out;
}

bool HtmlTokenizer::next(HtmlToken& token) {
  token = HtmlToken{};
  if (!pending_raw_.empty()) {
    read_raw_text(token);
    return true;
  }
  while (pos_ < in_.size()) {
    if (in_[pos_] != '<') {
      const std::size_t lt = std::min(in_.find('<', pos_), in_.size());
      token.text = decode_html_entities(in_.substr(pos_, lt - pos_), false);
      pos_ = lt;
      return true;
    }
    const std::size_t start = pos_;
    if (read_tag(token)) return true;
    if (pos_ == start) {
      // Not markup: a literal '<' and what follows up to the next '<'.
      const std::size_t lt = std::min(in_.find('<', pos_ + 1), in_.size());
      token.text = decode_html_entities(in_.substr(pos_, lt - pos_), false);
      pos_ = lt;
      return true;
    }
    if (!token.text.empty()) return true;  // CDATA
  }
  return false;
}

// At '<'. Returns true with a tag in `token`; false with pos_ moved past
// skipped markup (a comment...) or unmoved when the '<' is plain text.
bool HtmlTokenizer::read_tag(HtmlToken& token) {
  const std::size_t after = pos_ + 1;
  if (after >= in_.size()) return false;
  const char c = in_[after];
  if (c == '!' || c == '?') {
    if (c == '!' && in_.compare(after, 8, "![CDATA[") == 0) {
      const std::size_t end = in_.find("]]>", after + 8);
      const std::size_t stop = end == std::string_view::npos ? in_.size() : end;
      token.text = std::string(in_.substr(after + 8, stop - (after + 8)));
      std::erase(token.text, '\0');
      pos_ = end == std::string_view::npos ? in_.size() : end + 3;
      return false;
    }
    if (c == '!' && read_markup_declaration()) return false;
    // Doctype, processing instruction, bogus comment: to the next '>'.
    const std::size_t gt = in_.find('>', after);
    pos_ = gt == std::string_view::npos ? in_.size() : gt + 1;
    return false;
  }
  const bool end_tag = c == '/';
  const std::size_t name_start = end_tag ? after + 1 : after;
  if (name_start >= in_.size() || !is_alpha(in_[name_start])) {
    if (end_tag) {  // "</>" is dropped, "</ x>" is a bogus comment
      const std::size_t gt = in_.find('>', after);
      pos_ = gt == std::string_view::npos ? in_.size() : gt + 1;
    }
    return false;
  }
  std::size_t i = name_start;
  while (i < in_.size() && !is_space(in_[i]) && in_[i] != '/' && in_[i] != '>') ++i;
  token.kind = end_tag ? HtmlToken::Kind::EndTag : HtmlToken::Kind::StartTag;
  token.name = ascii_lower(in_.substr(name_start, i - name_start));
  std::erase(token.name, '\0');
  pos_ = i;
  read_attributes(token);
  if (pos_ > in_.size()) {  // no '>' before the end: browsers drop the tag
    pos_ = in_.size();
    token = HtmlToken{};
    return false;
  }
  if (end_tag) {
    token.attributes.clear();
    token.self_closing = false;
  } else if (is_raw_text_element(token.name)) {
    pending_raw_ = token.name;
  }
  return true;
}

// At "<!". Comments: "<!-->" and "<!--->" are complete (HTML5), else to "-->"
// or "--!>", or to the end of the input.
bool HtmlTokenizer::read_markup_declaration() {
  if (in_.compare(pos_, 4, "<!--") != 0) return false;
  std::size_t i = pos_ + 4;
  if (in_.compare(i, 1, ">") == 0) {
    pos_ = i + 1;
    return true;
  }
  if (in_.compare(i, 2, "->") == 0) {
    pos_ = i + 2;
    return true;
  }
  for (; i < in_.size(); ++i) {
    if (in_.compare(i, 3, "-->") == 0) {
      pos_ = i + 3;
      return true;
    }
    if (in_.compare(i, 4, "--!>") == 0) {
      pos_ = i + 4;
      return true;
    }
  }
  pos_ = in_.size();
  return true;
}

// After the tag name: attributes up to and including '>'. pos_ ends past the
// '>', or at in_.size() + 1 when the input ended first.
void HtmlTokenizer::read_attributes(HtmlToken& token) {
  std::size_t i = pos_;
  while (true) {
    while (i < in_.size() && (is_space(in_[i]) || in_[i] == '/')) {
      token.self_closing = in_[i] == '/';
      ++i;
    }
    if (i >= in_.size()) break;
    if (in_[i] == '>') {
      pos_ = i + 1;
      return;
    }
    token.self_closing = false;
    // A name runs to a blank, '/', '>' or '=' (an '=' first is part of it).
    const std::size_t name_start = i++;
    while (i < in_.size() && !is_space(in_[i]) && in_[i] != '/' && in_[i] != '>' && in_[i] != '=') {
      ++i;
    }
    const std::string_view raw_name = in_.substr(name_start, i - name_start);
    std::size_t j = i;
    while (j < in_.size() && is_space(in_[j])) ++j;
    std::string_view raw_value;
    if (j < in_.size() && in_[j] == '=') {
      ++j;
      while (j < in_.size() && is_space(in_[j])) ++j;
      if (j < in_.size() && (in_[j] == '"' || in_[j] == '\'')) {
        const std::size_t close = in_.find(in_[j], j + 1);
        if (close == std::string_view::npos) break;
        raw_value = in_.substr(j + 1, close - j - 1);
        i = close + 1;
      } else {
        std::size_t k = j;
        while (k < in_.size() && !is_space(in_[k]) && in_[k] != '>') ++k;
        raw_value = in_.substr(j, k - j);
        i = k;
      }
    }
    // Past the cap, attributes are only stepped over: checking each new name
    // against every kept one is what bounds the work per attribute.
    if (token.attributes.size() >= kMaxAttributes) continue;
    std::string name = ascii_lower(raw_name);
    std::erase(name, '\0');
    const bool seen = std::any_of(token.attributes.begin(), token.attributes.end(),
                                  [&](const HtmlAttribute& a) { return a.name == name; });
    if (seen || name.empty()) continue;
    token.attributes.push_back({std::move(name), decode_html_entities(raw_value, true)});
  }
  pos_ = in_.size() + 1;
}

// The content of a raw-text element up to its end tag ("</name" followed by a
// blank, '/' or '>'), which is consumed too. plaintext never ends.
void HtmlTokenizer::read_raw_text(HtmlToken& token) {
  const std::string element = std::exchange(pending_raw_, {});
  std::size_t end = in_.size();
  std::size_t resume = in_.size();
  if (element != "plaintext") {
    for (std::size_t i = in_.find("</", pos_); i != std::string_view::npos;
         i = in_.find("</", i + 2)) {
      const std::size_t after = i + 2 + element.size();
      if (after > in_.size() || !mime::iequals(in_.substr(i + 2, element.size()), element)) {
        continue;
      }
      if (after < in_.size() && !is_space(in_[after]) && in_[after] != '/' && in_[after] != '>') {
        continue;
      }
      end = i;
      const std::size_t gt = in_.find('>', after);
      resume = gt == std::string_view::npos ? in_.size() : gt + 1;
      break;
    }
  }
  const std::string_view content = in_.substr(pos_, end - pos_);
  if (element == "title" || element == "textarea") {
    token.text = decode_html_entities(content, false);
  } else {
    token.text = std::string(content);
    std::erase(token.text, '\0');
  }
  token.raw = true;
  token.raw_element = element;
  pos_ = resume;
}

}  // namespace postern::node::webmail
