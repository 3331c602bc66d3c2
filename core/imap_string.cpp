#include "core/imap_string.hpp"

#include <algorithm>

namespace postern::core::imap {
namespace {

// RFC 3501 ASTRING-CHAR (ATOM-CHAR or "]"), less "[": our parser reads "[" in an
// atom as the start of a section that must close on the same line.
bool is_astring_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c > 0x20 && c < 0x7f && std::string_view("(){%*\"\\[").find(ch) == std::string_view::npos;
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

// The value of a modified-base64 character (RFC 3501 uses ',' for '/'), or -1.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

bool is_printable_ascii(char32_t cp) {
  return cp >= 0x20 && cp <= 0x7e;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Decodes one UTF-8 sequence at text[pos], advancing pos. Invalid input (bad
// lead or continuation bytes, overlong forms, surrogates, > U+10FFFF) yields
// U+FFFD and advances one byte.
char32_t next_code_point(std::string_view text, std::size_t& pos) {
  constexpr char32_t kReplacement = 0xfffd;
  const auto b0 = static_cast<unsigned char>(text[pos]);
  std::size_t len = 0;
  char32_t cp = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (b0 < 0x80) {
    ++pos;
    return b0;
  } else if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    cp = b0 & 0x0f;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    cp = b0 & 0x07;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    ++pos;
    return kReplacement;
  }
  if (text.size() - pos < len) {
    ++pos;
    return kReplacement;
  }
  for (std::size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(text[pos + i]);
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) {
      ++pos;
      return kReplacement;
    }
    cp = (cp << 6) | (b & 0x3f);
  }
  pos += len;
  return cp;
}

// Decodes the base64 run of "&...-" at text[pos] (just after the '&'), up to and
// including its '-', appending UTF-8 to out. False on anything malformed.
bool decode_base64_run(std::string_view text, std::size_t& pos, std::string& out) {
  std::uint32_t bits = 0;
  int nbits = 0;
  char32_t high = 0;  // a pending high surrogate
  bool any = false;
  while (true) {
    if (pos >= text.size()) return false;  // unterminated
    const char c = text[pos++];
    if (c == '-') break;
    const int value = base64_value(c);
    if (value < 0) return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    nbits += 6;
    if (nbits < 16) continue;
    nbits -= 16;
    const char32_t unit = (bits >> nbits) & 0xffff;
    bits &= (1u << nbits) - 1;
    any = true;
    char32_t cp = unit;
    if (high != 0) {
      if (unit < 0xdc00 || unit > 0xdfff) return false;
      cp = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
      high = 0;
    } else if (unit >= 0xd800 && unit <= 0xdbff) {
      high = unit;
      continue;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
    // Printable US-ASCII must represent itself (RFC 3501 5.1.3); NUL has no place.
    if (cp == 0 || is_printable_ascii(cp)) return false;
    append_utf8(out, cp);
  }
  // Leftover bits: fewer than one base64 character's worth, and all zero.
  return any && high == 0 && nbits < 6 && bits == 0;
}

std::string number_text(std::uint32_t n) {
  return n == SequenceSet::kStar ? std::string("*") : std::to_string(n);
}

// nz-number (no leading zero, at most 2^32-1) or "*".
std::optional<std::uint32_t> parse_seq_number(std::string_view text) {
  if (text == "*") return SequenceSet::kStar;
  if (text.empty() || text.size() > 10 || text[0] < '1' || text[0] > '9') return std::nullopt;
  std::uint64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

}  // namespace

std::string imap_quote(std::string_view text) {
  const bool quotable =
      text.size() <= kMaxQuotedBytes && std::none_of(text.begin(), text.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return c == 0 || c == '\r' || c == '\n' || c >= 0x80;
      });
  std::string out;
  if (!quotable) {
    out = "{" + std::to_string(text.size()) + "}\r\n";
    out.append(text);
    return out;
  }
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string imap_astring(std::string_view text) {
  const bool nil = text.size() == 3 && (text[0] | 0x20) == 'n' && (text[1] | 0x20) == 'i' &&
                   (text[2] | 0x20) == 'l';
  if (!text.empty() && !nil && std::all_of(text.begin(), text.end(), is_astring_char))
    return std::string(text);
  return imap_quote(text);
}

std::optional<std::string> mutf7_to_utf8(std::string_view mutf7) {
  std::string out;
  out.reserve(mutf7.size());
  std::size_t pos = 0;
  while (pos < mutf7.size()) {
    const char c = mutf7[pos++];
    if (!is_printable_ascii(static_cast<unsigned char>(c))) return std::nullopt;
    if (c != '&') {
      out += c;
    } else if (pos < mutf7.size() && mutf7[pos] == '-') {
      out += '&';
      ++pos;
    } else if (!decode_base64_run(mutf7, pos, out)) {
      return std::nullopt;
    }
  }
  return out;
}

std::string utf8_to_mutf7(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  std::uint32_t bits = 0;
  int nbits = 0;
  bool in_run = false;
  auto put_unit = [&](char32_t unit) {
    bits = (bits << 16) | static_cast<std::uint32_t>(unit);
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      out += kBase64[(bits >> nbits) & 0x3f];
    }
    bits &= (1u << nbits) - 1;
  };
  auto end_run = [&] {
    if (nbits > 0) out += kBase64[(bits << (6 - nbits)) & 0x3f];
    out += '-';
    bits = 0;
    nbits = 0;
    in_run = false;
  };
  std::size_t pos = 0;
  while (pos < utf8.size()) {
    char32_t cp = next_code_point(utf8, pos);
    if (is_printable_ascii(cp)) {
      if (in_run) end_run();
      out += static_cast<char>(cp);
      if (cp == '&') out += '-';
      continue;
    }
    if (cp == 0) cp = 0xfffd;  // the decoder refuses NUL: keep the output valid
    if (!in_run) {
      out += '&';
      in_run = true;
    }
    if (cp >= 0x10000) {
      put_unit(0xd800 + ((cp - 0x10000) >> 10));
      put_unit(0xdc00 + ((cp - 0x10000) & 0x3ff));
    } else {
      put_unit(cp);
    }
  }
  if (in_run) end_run();
  return out;
}

bool SequenceSet::contains(std::uint32_t n, std::uint32_t star_value) const {
  if (n == 0) return false;
  for (const Range& r : ranges) {
    const std::uint32_t a = r.first == kStar ? star_value : r.first;
    const std::uint32_t b = r.last == kStar ? star_value : r.last;
    if (n >= std::min(a, b) && n <= std::max(a, b)) return true;
  }
  return false;
}

std::vector<SequenceSet::Range> SequenceSet::normalized(std::uint32_t star_value) const {
  std::vector<Range> resolved;
  resolved.reserve(ranges.size());
  for (const Range& r : ranges) {
    const std::uint32_t a = r.first == kStar ? star_value : r.first;
    const std::uint32_t b = r.last == kStar ? star_value : r.last;
    const std::uint32_t hi = std::max(a, b);
    if (hi == 0) continue;  // `*` of an empty mailbox
    resolved.push_back(Range{std::max<std::uint32_t>(std::min(a, b), 1), hi});
  }
  std::sort(resolved.begin(), resolved.end(),
            [](const Range& x, const Range& y) { return x.first < y.first; });
  std::vector<Range> merged;
  for (const Range& r : resolved) {
    // Overlapping or adjacent (written so that last + 1 cannot overflow).
    if (!merged.empty() && r.first - 1 <= merged.back().last) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

std::uint64_t SequenceSet::count(std::uint32_t star_value) const {
  std::uint64_t total = 0;
  for (const Range& r : normalized(star_value)) total += std::uint64_t{r.last} - r.first + 1;
  return total;
}

std::string SequenceSet::to_string() const {
  std::string out;
  for (const Range& r : ranges) {
    if (!out.empty()) out += ',';
    out += number_text(r.first);
    if (r.last != r.first) out += ':' + number_text(r.last);
  }
  return out;
}

std::optional<SequenceSet> parse_sequence_set(std::string_view text) {
  SequenceSet set;
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view element = text.substr(0, comma);
    const std::size_t colon = element.find(':');
    const auto first = parse_seq_number(element.substr(0, colon));
    if (!first) return std::nullopt;
    std::optional<std::uint32_t> last = first;
    if (colon != std::string_view::npos) last = parse_seq_number(element.substr(colon + 1));
    if (!last) return std::nullopt;
    set.ranges.push_back(SequenceSet::Range{*first, *last});
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return set;
}

}  // namespace postern::core::imap
