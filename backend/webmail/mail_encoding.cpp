#include "backend/webmail/mail_encoding.hpp"

#include <vector>

#include "backend/mime/content_params.hpp"
#include "core/base64.hpp"

namespace postern::node::webmail {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";
// Bytes of UTF-8 per encoded word: 42 bytes are 56 base64 characters, so a
// word is 68 characters and "Subject: " plus one word stays under 78.
constexpr std::size_t kWordBytes = 42;
// Longer ASCII words cannot be folded; they go as encoded words instead.
constexpr std::size_t kMaxUnfoldableWord = 900;

bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

bool is_printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c != '\t' && (c < 0x20 || c > 0x7E)) return false;
  }
  return true;
}

// Length of a UTF-8 sequence from its lead byte (1 for a stray byte).
std::size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  if (lead >= 0xE0) return lead <= 0xEF ? 3 : 1;
  if (lead >= 0xC2) return 2;
  return 1;
}

// RFC 2231 attribute-char: token characters other than '*', '\'' and '%'.
bool is_attribute_char(char c) {
  return mime::is_mime_token_char(c) && c != '*' && c != '\'' && c != '%';
}

}  // namespace

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

std::string encode_words(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = i;
    while (end < text.size()) {
      const std::size_t n =
          std::min(utf8_length(static_cast<unsigned char>(text[end])), text.size() - end);
      if (end + n - i > kWordBytes && end > i) break;
      end += n;
    }
    if (!out.empty()) out += "\r\n ";
    out += "=?utf-8?B?";
    out += core::base64_encode(text.substr(i, end - i));
    out += "?=";
    i = end;
  }
  return out;
}

std::string encode_unstructured(std::string_view text, std::size_t name_length) {
  bool plain = is_printable_ascii(text) && text.find("=?") == std::string_view::npos;
  // Words split at single spaces; runs of blanks and edge blanks would not
  // survive unfolding as written, so they take the encoded path too.
  std::vector<std::string_view> words;
  if (plain) {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t space = text.find(' ', start);
      if (space == std::string_view::npos) space = text.size();
      words.push_back(text.substr(start, space - start));
      if (words.back().size() > kMaxUnfoldableWord) plain = false;
      start = space + 1;
    }
  }
  if (!plain) return encode_words(text);
  std::string out;
  std::size_t column = name_length;
  for (std::size_t w = 0; w < words.size(); ++w) {
    if (w > 0) {
      if (column + 1 + words[w].size() > kFoldColumn && column > 1 && !words[w].empty()) {
        out += "\r\n";
        column = 0;
      }
      out += ' ';
      ++column;
    }
    out += words[w];
    column += words[w].size();
  }
  return out;
}

std::string encode_display_name(std::string_view name) {
  if (name.empty()) return {};
  // Long names too: a quoted string cannot be folded.
  if (!is_ascii(name) || name.find("=?") != std::string_view::npos || name.size() > 200) {
    return encode_words(name);
  }
  bool atoms = name.front() != ' ' && name.back() != ' ';
  for (std::size_t i = 0; i < name.size() && atoms; ++i) {
    if (name[i] == ' ') {
      atoms = i + 1 < name.size() && name[i + 1] != ' ';
    } else {
      atoms = is_atext(name[i]);
    }
  }
  if (atoms) return std::string(name);
  if (!is_printable_ascii(name)) return encode_words(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string encode_quoted_printable(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find("\r\n", start);
    const bool last = end == std::string_view::npos;
    if (last) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    std::size_t column = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      const bool trailing_blank = (c == ' ' || c == '\t') && i + 1 == line.size();
      const bool literal =
          !trailing_blank && c != '=' && ((c >= 33 && c <= 126) || c == ' ' || c == '\t');
      const std::size_t width = literal ? 1 : 3;
      // Room for the soft break's '=' unless this is the line's last token.
      const std::size_t limit = i + 1 == line.size() ? 76 : 75;
      if (column + width > limit) {
        out += "=\r\n";
        column = 0;
      }
      if (literal) {
        out += static_cast<char>(c);
      } else {
        out += '=';
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      }
      column += width;
    }
    if (last) break;
    out += "\r\n";
    start = end + 2;
  }
  return out;
}

std::string encode_base64_lines(std::string_view bytes) {
  const std::string b64 = core::base64_encode(bytes);
  std::string out;
  out.reserve(b64.size() + b64.size() / 76 * 2 + 2);
  for (std::size_t i = 0; i < b64.size(); i += 76) {
    out.append(b64, i, 76);
    out += "\r\n";
  }
  return out;
}

std::string encode_parameter(std::string_view name, std::string_view value) {
  std::string out;
  if (is_printable_ascii(value) && value.size() <= 200) {
    bool token = !value.empty();
    for (char c : value) token = token && mime::is_mime_token_char(c);
    out = ";\r\n\t";
    out += name;
    out += '=';
    if (token) {
      out += value;
      return out;
    }
    out += '"';
    for (char c : value) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
    return out;
  }
  // RFC 2231: percent-encoded UTF-8, in sections of about 60 characters that
  // never split a %XX.
  std::vector<std::string> sections(1, "utf-8''");
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    std::string piece;
    if (is_attribute_char(ch)) {
      piece = ch;
    } else {
      piece = {'%', kHex[c >> 4], kHex[c & 0xF]};
    }
    if (sections.back().size() + piece.size() > 60) sections.emplace_back();
    sections.back() += piece;
  }
  for (std::size_t i = 0; i < sections.size(); ++i) {
    out += ";\r\n\t";
    out += name;
    if (sections.size() > 1) out += "*" + std::to_string(i);
    out += "*=";
    out += sections[i];
  }
  return out;
}

std::string crlf_line_ends(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace postern::node::webmail
