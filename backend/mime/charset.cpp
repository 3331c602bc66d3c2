#include "backend/mime/charset.hpp"

#include <iconv.h>

#include <array>
#include <cerrno>
#include <memory>

#include "backend/mime/text.hpp"

namespace postern::node::mime {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Windows-1252 0x80..0x9F; 0 marks the five bytes the code page leaves undefined.
constexpr std::array<char32_t, 32> kCp1252High = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

enum class Table { Utf8, Latin1, Latin9, Cp1252 };

std::optional<Table> builtin_table(std::string_view charset) {
  const std::string name = ascii_lower(charset);
  if (name == "utf-8" || name == "utf8" || name == "us-ascii" || name == "ascii") {
    return Table::Utf8;  // ASCII is a subset; stray 8-bit bytes become U+FFFD either way
  }
  if (name == "iso-8859-1" || name == "iso8859-1" || name == "iso_8859-1" || name == "latin1" ||
      name == "l1") {
    return Table::Latin1;
  }
  if (name == "iso-8859-15" || name == "iso8859-15" || name == "iso_8859-15" || name == "latin9" ||
      name == "latin-9") {
    return Table::Latin9;
  }
  if (name == "windows-1252" || name == "cp1252" || name == "x-cp1252") return Table::Cp1252;
  return std::nullopt;
}

char32_t latin9(unsigned char c) {
  switch (c) {
    case 0xA4:
      return 0x20AC;
    case 0xA6:
      return 0x0160;
    case 0xA8:
      return 0x0161;
    case 0xB4:
      return 0x017D;
    case 0xB8:
      return 0x017E;
    case 0xBC:
      return 0x0152;
    case 0xBD:
      return 0x0153;
    case 0xBE:
      return 0x0178;
    default:
      return c;
  }
}

std::string convert_single_byte(Table table, std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    char32_t cp = c;
    if (table == Table::Latin9) {
      cp = latin9(c);
    } else if (table == Table::Cp1252 && c >= 0x80 && c <= 0x9F) {
      cp = kCp1252High[c - 0x80];
      if (cp == 0) cp = kReplacement;
    }
    append_utf8(out, cp);
  }
  return out;
}

// Only names made of these characters reach iconv_open: glibc gives meaning to
// suffixes such as "//TRANSLIT", and a charset name comes from the message.
bool plausible_charset_name(std::string_view name) {
  if (name.empty() || name.size() > 40) return false;
  for (char c : name) {
    if (!is_ascii_alnum(c) && c != '-' && c != '_' && c != '.' && c != ':') return false;
  }
  return true;
}

struct IconvCloser {
  void operator()(void* cd) const { iconv_close(static_cast<iconv_t>(cd)); }
};
using IconvHandle = std::unique_ptr<void, IconvCloser>;

std::optional<std::string> convert_with_iconv(std::string_view charset, std::string_view bytes) {
  if (!plausible_charset_name(charset)) return std::nullopt;
  const std::string name(charset);
  iconv_t raw = iconv_open("UTF-8", name.c_str());
  if (raw == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  IconvHandle cd(raw);

  std::string out;
  std::array<char, 1024> buffer{};
  std::string input(bytes);  // iconv wants a mutable char*
  char* in = input.data();
  std::size_t in_left = input.size();
  while (in_left > 0) {
    char* dst = buffer.data();
    std::size_t dst_left = buffer.size();
    const std::size_t rc = iconv(raw, &in, &in_left, &dst, &dst_left);
    out.append(buffer.data(), buffer.size() - dst_left);
    if (rc != static_cast<std::size_t>(-1)) continue;
    if (errno == E2BIG) continue;
    // EILSEQ or EINVAL: a byte the charset does not allow, or a sequence cut off
    // at the end. Mark it and go on with the next byte.
    append_utf8(out, kReplacement);
    ++in;
    --in_left;
    iconv(raw, nullptr, nullptr, nullptr, nullptr);  // reset the shift state
  }
  char* dst = buffer.data();
  std::size_t dst_left = buffer.size();
  iconv(raw, nullptr, nullptr, &dst, &dst_left);  // flush a stateful encoding
  out.append(buffer.data(), buffer.size() - dst_left);
  std::string valid;
  append_valid_utf8(valid, out);  // belt and braces: the contract is valid UTF-8
  return valid;
}

// Length of the UTF-8 sequence starting at bytes[pos] if it is well-formed, or
// the length of its maximal ill-formed prefix as a negative number.
int utf8_sequence(std::string_view bytes, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(bytes[pos]);
  if (lead < 0x80) return 1;
  int need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) lo = 0xA0;  // no overlong forms
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;
  }
  for (int i = 1; i <= need; ++i) {
    if (pos + i >= bytes.size()) return -i;
    const auto c = static_cast<unsigned char>(bytes[pos + i]);
    if (c < lo || c > hi) return -i;
    lo = 0x80;
    hi = 0xBF;
  }
  return need + 1;
}

}  // namespace

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void append_valid_utf8(std::string& out, std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const int n = utf8_sequence(bytes, pos);
    if (n > 0) {
      out.append(bytes.substr(pos, static_cast<std::size_t>(n)));
      pos += static_cast<std::size_t>(n);
    } else {
      append_utf8(out, kReplacement);
      pos += static_cast<std::size_t>(-n);
    }
  }
}

std::optional<std::string> charset_to_utf8(std::string_view charset, std::string_view bytes) {
  const auto table = builtin_table(charset);
  if (!table) return convert_with_iconv(charset, bytes);
  if (*table == Table::Utf8) {
    std::string out;
    append_valid_utf8(out, bytes);
    return out;
  }
  return convert_single_byte(*table, bytes);
}

}  // namespace postern::node::mime
