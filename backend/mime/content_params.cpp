#include "backend/mime/content_params.hpp"

#include <map>

#include "backend/mime/charset.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::mime {

namespace {

bool is_tspecial(char c);

}  // namespace

bool is_mime_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 32 && u < 127 && !is_tspecial(c);
}

namespace {

// RFC 2231 continuations beyond this are ignored: no mailer splits a value into
// a thousand pieces, and the map below stays small.
constexpr unsigned kMaxSections = 1000;

bool is_tspecial(char c) {
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '@':
    case ',':
    case ';':
    case ':':
    case '\\':
    case '"':
    case '/':
    case '[':
    case ']':
    case '?':
    case '=':
      return true;
    default:
      return false;
  }
}

bool is_token_char(char c) {
  return is_mime_token_char(c);
}

// A cursor over a structured field value.
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  bool done() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void advance() { ++pos_; }

  // Blanks and (possibly nested) comments.
  void skip_cfws() {
    while (!done()) {
      const char c = peek();
      if (is_wsp(c) || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '(') {
        skip_comment();
      } else {
        break;
      }
    }
  }

  std::string_view token() {
    const std::size_t start = pos_;
    while (!done() && is_token_char(peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // At '"': the quoted string's content with escapes removed. An unterminated
  // string runs to the end of the value.
  std::string quoted_string() {
    std::string out;
    ++pos_;
    while (!done()) {
      const char c = text_[pos_++];
      if (c == '"') break;
      if (c == '\\' && !done()) {
        out += text_[pos_++];
      } else {
        out += c;
      }
    }
    return out;
  }

  // An unquoted parameter value: everything up to ';', ending early at a comment
  // that follows a blank ("us-ascii (Plain text)"); trailing blanks removed.
  std::string_view bare_value() {
    const std::size_t start = pos_;
    while (!done() && peek() != ';') {
      if (peek() == '(' && pos_ > start && is_wsp(text_[pos_ - 1])) break;
      ++pos_;
    }
    return trim_wsp(text_.substr(start, pos_ - start));
  }

  void skip_to_semicolon() {
    while (!done() && peek() != ';') {
      if (peek() == '"') {
        quoted_string();
      } else {
        ++pos_;
      }
    }
  }

  std::string_view rest() const { return done() ? std::string_view() : text_.substr(pos_); }

 private:
  void skip_comment() {
    int depth = 0;
    while (!done()) {
      const char c = text_[pos_++];
      if (c == '\\' && !done()) {
        ++pos_;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')' && --depth == 0) {
        return;
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
        hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

struct Section {
  std::string value;
  bool encoded = false;
};

// Everything seen for one parameter name.
struct Collected {
  std::string name;
  std::optional<std::string> plain;      // name=value
  std::optional<std::string> extended;   // name*=charset'lang'value
  std::map<unsigned, Section> sections;  // name*N / name*N*
};

Collected& slot(std::vector<Collected>& all, std::string_view name) {
  for (auto& c : all) {
    if (c.name == name) return c;
  }
  all.push_back(Collected{std::string(name), {}, {}, {}});
  return all.back();
}

void record(std::vector<Collected>& all, const std::string& name, std::string value) {
  const std::size_t star = name.find('*');
  if (star == std::string::npos || star == 0) {
    auto& c = slot(all, name);
    if (!c.plain) c.plain = std::move(value);
    return;
  }
  const std::string_view base = std::string_view(name).substr(0, star);
  std::string_view rest = std::string_view(name).substr(star + 1);
  if (rest.empty()) {
    auto& c = slot(all, base);
    if (!c.extended) c.extended = std::move(value);
    return;
  }
  bool encoded = false;
  if (rest.back() == '*') {
    encoded = true;
    rest.remove_suffix(1);
  }
  unsigned index = 0;
  if (rest.empty() || rest.size() > 4) return;
  for (char c : rest) {
    if (c < '0' || c > '9') return;
    index = index * 10 + static_cast<unsigned>(c - '0');
  }
  if (index >= kMaxSections) return;
  slot(all, base).sections.emplace(index, Section{std::move(value), encoded});
}

// charset'language'%XX... -> UTF-8 (or the raw bytes if the charset is unknown).
std::string decode_extended(std::string_view charset, std::string_view bytes) {
  if (charset.empty()) return std::string(bytes);
  if (auto utf8 = charset_to_utf8(charset, bytes)) return *utf8;
  return std::string(bytes);
}

std::optional<std::string> assemble(const Collected& c) {
  if (c.extended) {
    std::string_view v = *c.extended;
    std::string_view charset;
    const std::size_t q1 = v.find('\'');
    const std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
    if (q2 != std::string_view::npos) {
      charset = v.substr(0, q1);
      v = v.substr(q2 + 1);
    }
    return decode_extended(charset, percent_decode(v));
  }
  if (!c.sections.empty() && c.sections.begin()->first == 0) {
    std::string charset;
    std::string bytes;
    unsigned expect = 0;
    for (const auto& [index, section] : c.sections) {
      if (index != expect) break;  // a gap ends the value (RFC 2231 section 3)
      ++expect;
      std::string_view v = section.value;
      if (section.encoded && index == 0) {
        const std::size_t q1 = v.find('\'');
        const std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
        if (q2 != std::string_view::npos) {
          charset = std::string(v.substr(0, q1));
          v = v.substr(q2 + 1);
        }
      }
      bytes += section.encoded ? percent_decode(v) : std::string(v);
    }
    return decode_extended(charset, bytes);
  }
  return c.plain;
}

}  // namespace

Params parse_parameters(std::string_view text) {
  std::vector<Collected> collected;
  Lexer lex(text);
  while (!lex.done()) {
    lex.skip_cfws();
    if (lex.done()) break;
    if (lex.peek() == ';') {
      lex.advance();
      continue;
    }
    std::string name = ascii_lower(lex.token());
    lex.skip_cfws();
    if (name.empty() || lex.done() || lex.peek() != '=') {
      if (!lex.done() && lex.peek() != ';') lex.advance();  // garbage: go on after it
      lex.skip_to_semicolon();
      continue;
    }
    lex.advance();
    lex.skip_cfws();
    std::string value;
    if (!lex.done() && lex.peek() == '"') {
      value = lex.quoted_string();
      lex.skip_to_semicolon();
    } else {
      value = std::string(lex.bare_value());
      lex.skip_to_semicolon();
    }
    record(collected, name, std::move(value));
  }
  Params params;
  for (const auto& c : collected) {
    if (auto value = assemble(c)) params.emplace_back(c.name, std::move(*value));
  }
  return params;
}

std::optional<ContentType> parse_content_type(std::string_view value) {
  Lexer lex(value);
  lex.skip_cfws();
  const std::string_view type = lex.token();
  lex.skip_cfws();
  if (type.empty() || lex.done() || lex.peek() != '/') return std::nullopt;
  lex.advance();
  lex.skip_cfws();
  const std::string_view subtype = lex.token();
  if (subtype.empty()) return std::nullopt;
  lex.skip_cfws();
  return ContentType{ascii_lower(type), ascii_lower(subtype), parse_parameters(lex.rest())};
}

std::optional<ContentDisposition> parse_content_disposition(std::string_view value) {
  Lexer lex(value);
  lex.skip_cfws();
  const std::string_view type = lex.token();
  if (type.empty()) return std::nullopt;
  return ContentDisposition{ascii_lower(type), parse_parameters(lex.rest())};
}

std::optional<std::string> parse_mime_token(std::string_view value) {
  Lexer lex(value);
  lex.skip_cfws();
  const std::string_view token = lex.token();
  if (token.empty()) return std::nullopt;
  return ascii_lower(token);
}

std::vector<std::string> parse_language_list(std::string_view value) {
  std::vector<std::string> tags;
  Lexer lex(value);
  while (!lex.done()) {
    lex.skip_cfws();
    if (lex.done()) break;
    const std::string_view tag = lex.token();
    if (!tag.empty()) tags.emplace_back(tag);
    lex.skip_cfws();
    if (!lex.done()) lex.advance();  // the ',' (or garbage) after the tag
  }
  return tags;
}

}  // namespace postern::node::mime
