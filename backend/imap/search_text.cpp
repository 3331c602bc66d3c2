#include "backend/imap/search_text.hpp"

#include <array>
#include <cstdint>
#include <cstring>

#include "backend/mime/encoded_words.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

// The lower-case of a code point that UTF-8 writes in two bytes (U+0080 to
// U+07FF); the result is in that range too, so folding keeps the length.
char32_t fold_two_byte(char32_t cp) {
  if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7) return cp + 0x20;  // Latin-1 capitals
  if (cp >= 0x100 && cp <= 0x17f) {
    // Latin Extended-A alternates capital/small, with the parity flipping at
    // U+0139 and U+0179; U+0130, U+0131, U+0138 and U+0149 have no pair here.
    if (cp == 0x178) return 0xff;
    if ((cp <= 0x12f || (cp >= 0x132 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177)) &&
        cp % 2 == 0) {
      return cp + 1;
    }
    if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e)) && cp % 2 == 1) {
      return cp + 1;
    }
    return cp;
  }
  if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2) return cp + 0x20;  // Greek
  if (cp == 0x3c2) return 0x3c3;                                    // final sigma
  if (cp >= 0x410 && cp <= 0x42f) return cp + 0x20;                 // Cyrillic
  if (cp >= 0x400 && cp <= 0x40f) return cp + 0x50;
  return cp;
}

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighBits = 0x8080808080808080ull;

// Lower-cases ASCII letters eight bytes at a time (SWAR): this runs over every
// byte a TEXT search reads. Bytes >= 0x80 are left alone.
void fold_ascii(unsigned char* p, std::size_t size) {
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t x;
    std::memcpy(&x, p + i, 8);
    const std::uint64_t low7 = x & ~kHighBits;
    const std::uint64_t above_z = low7 + (0x7f - 'Z') * kOnes;  // high bit: > 'Z'
    const std::uint64_t from_a = low7 + (0x80 - 'A') * kOnes;   // high bit: >= 'A'
    const std::uint64_t upper = (from_a ^ above_z) & ~x & kHighBits;
    x |= upper >> 2;  // 0x80 >> 2 = 0x20, the case bit
    std::memcpy(p + i, &x, 8);
  }
  for (; i < size; ++i) {
    if (p[i] >= 'A' && p[i] <= 'Z') p[i] = static_cast<unsigned char>(p[i] | 0x20);
  }
}

void fold_utf8(unsigned char* p, std::size_t size) {
  for (std::size_t i = 0; i + 1 < size; ++i) {
    if (i + 8 <= size) {  // skip ASCII eight bytes at a time
      std::uint64_t x;
      std::memcpy(&x, p + i, 8);
      if ((x & kHighBits) == 0) {
        i += 7;
        continue;
      }
    }
    const unsigned char lead = p[i];
    if (lead < 0xc2 || lead > 0xdf || (p[i + 1] & 0xc0) != 0x80) continue;
    const char32_t cp = (char32_t{lead & 0x1fu} << 6) | (p[i + 1] & 0x3fu);
    const char32_t low = fold_two_byte(cp);
    if (low != cp) {
      p[i] = static_cast<unsigned char>(0xc0 | (low >> 6));
      p[i + 1] = static_cast<unsigned char>(0x80 | (low & 0x3f));
    }
    ++i;
  }
}

constexpr std::array<signed char, 256> make_base64_table() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  return t;
}

constexpr auto kBase64 = make_base64_table();

char* flush_quantum(char* w, std::uint32_t bits, int count) {
  if (count == 2) *w++ = static_cast<char>(bits >> 4);
  if (count == 3) {
    *w++ = static_cast<char>(bits >> 10);
    *w++ = static_cast<char>(bits >> 2);
  }
  return w;
}

}  // namespace

void fold_case(char* data, std::size_t size, bool unicode) {
  auto* p = reinterpret_cast<unsigned char*>(data);
  fold_ascii(p, size);
  if (unicode) fold_utf8(p, size);
}

std::string folded(std::string_view text) {
  std::string out(text);
  fold_case(out.data(), out.size(), true);
  return out;
}

bool is_ascii(std::string_view text) {
  std::uint64_t any = 0;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, text.data() + i, 8);
    any |= x;
  }
  for (; i < text.size(); ++i) any |= static_cast<unsigned char>(text[i]);
  return (any & kHighBits) == 0;
}

bool contains(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  return ::memmem(haystack.data(), haystack.size(), needle.data(), needle.size()) != nullptr;
}

void append_base64(std::string& out, std::string_view in) {
  const std::size_t start = out.size();
  out.resize(start + in.size() / 4 * 3 + 3);
  // Plain locals (no lambda capturing them by reference) keep them in registers.
  char* w = out.data() + start;
  std::uint32_t bits = 0;
  int count = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  std::size_t i = 0;
  while (i < n) {
    if (count == 0) {  // whole quanta at once, up to the next line break
      while (i + 4 <= n) {
        const int a = kBase64[p[i]], b = kBase64[p[i + 1]], c = kBase64[p[i + 2]],
                  d = kBase64[p[i + 3]];
        if ((a | b | c | d) < 0) break;
        const auto v = static_cast<std::uint32_t>(a << 18 | b << 12 | c << 6 | d);
        w[0] = static_cast<char>(v >> 16);
        w[1] = static_cast<char>(v >> 8);
        w[2] = static_cast<char>(v);
        w += 3;
        i += 4;
      }
      if (i == n) break;
    }
    const unsigned char ch = p[i++];
    const int v = kBase64[ch];
    if (v < 0) {
      if (ch == '=') {  // ends the quantum: 2 or 3 sextets carry 1 or 2 bytes
        w = flush_quantum(w, bits, count);
        bits = 0;
        count = 0;
      }
      continue;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    if (++count == 4) {
      w[0] = static_cast<char>(bits >> 16);
      w[1] = static_cast<char>(bits >> 8);
      w[2] = static_cast<char>(bits);
      w += 3;
      bits = 0;
      count = 0;
    }
  }
  w = flush_quantum(w, bits, count);
  out.resize(static_cast<std::size_t>(w - out.data()));
}

void append_quoted_printable(std::string& out, std::string_view in) {
  while (!in.empty()) {
    const std::size_t eq = in.find('=');
    out.append(in.substr(0, eq));
    if (eq == std::string_view::npos) return;
    in.remove_prefix(eq + 1);
    if (in.size() >= 2 && mime::hex_value(in[0]) >= 0 && mime::hex_value(in[1]) >= 0) {
      out += static_cast<char>(mime::hex_value(in[0]) * 16 + mime::hex_value(in[1]));
      in.remove_prefix(2);
      continue;
    }
    // A soft line break: '=', optional transport padding, the line end.
    std::size_t end = 0;
    while (end < in.size() && mime::is_wsp(in[end])) ++end;
    if (end < in.size() && in[end] == '\r') ++end;
    if (end == in.size() || in[end] == '\n') {
      in.remove_prefix(end < in.size() ? end + 1 : end);
      continue;
    }
    out += '=';  // malformed: kept as written
  }
}

std::size_t header_length(std::string_view message) {
  std::size_t pos = 0;
  while (pos < message.size()) {
    if (message[pos] == '\n') return pos + 1;
    if (message[pos] == '\r' && pos + 1 < message.size() && message[pos + 1] == '\n') {
      return pos + 2;
    }
    const std::size_t lf = message.find('\n', pos);
    if (lf == std::string_view::npos) return message.size();
    pos = lf + 1;
  }
  return message.size();
}

std::string_view RawHeaderReader::line() {
  const std::size_t lf = rest_.find('\n');
  std::string_view out = rest_.substr(0, lf);
  rest_ = lf == std::string_view::npos ? std::string_view() : rest_.substr(lf + 1);
  if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
  return out;
}

bool RawHeaderReader::next(RawHeaderField& field) {
  while (!rest_.empty()) {
    const std::string_view first = line();
    if (first.empty()) {  // the empty line that ends the header
      rest_ = {};
      return false;
    }
    const char* end = first.data() + first.size();
    while (!rest_.empty() && mime::is_wsp(rest_.front())) {
      const std::string_view more = line();
      end = more.data() + more.size();
    }
    if (mime::is_wsp(first.front())) continue;  // a continuation with nothing to continue
    const std::size_t colon = first.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = first.substr(0, colon);
    while (!name.empty() && mime::is_wsp(name.back())) name.remove_suffix(1);
    bool valid = !name.empty();
    for (char c : name) valid = valid && c > ' ' && c < 0x7f;
    if (!valid) continue;
    field.name = name;
    const char* value = first.data() + colon + 1;
    field.value = std::string_view(value, static_cast<std::size_t>(end - value));
    return true;
  }
  return false;
}

void unfold_header_value(std::string_view raw, std::string& out) {
  out.clear();
  while (!raw.empty()) {  // unfold: drop the line breaks, keep the blanks
    const std::size_t lf = raw.find('\n');
    std::string_view line = raw.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.append(line);
    if (lf == std::string_view::npos) break;
    raw.remove_prefix(lf + 1);
  }
  const std::string_view trimmed = mime::trim_wsp(out);
  const auto begin = static_cast<std::size_t>(trimmed.data() - out.data());
  out.erase(begin + trimmed.size());
  out.erase(0, begin);
}

void decode_header_value(std::string_view raw, std::string& out) {
  unfold_header_value(raw, out);
  if (out.find("=?") != std::string::npos) out = mime::decode_encoded_words(out);
}

int rfc5322_zone_minutes(std::string_view date) {
  std::string_view t = mime::trim_wsp(date);
  while (!t.empty() && t.back() == ')') {  // trailing comments: "+0000 (UTC)"
    const std::size_t open = t.rfind('(');
    if (open == std::string_view::npos) break;
    t = mime::trim_wsp(t.substr(0, open));
  }
  const std::size_t space = t.find_last_of(" \t");
  const std::string_view zone = space == std::string_view::npos ? t : t.substr(space + 1);
  if (zone.size() == 5 && (zone[0] == '+' || zone[0] == '-')) {
    int digits[4];
    for (int i = 0; i < 4; ++i) {
      digits[i] = zone[i + 1] - '0';
      if (digits[i] < 0 || digits[i] > 9) return 0;
    }
    const int minutes = (digits[0] * 10 + digits[1]) * 60 + digits[2] * 10 + digits[3];
    return zone[0] == '-' ? -minutes : minutes;
  }
  struct Named {
    std::string_view name;
    int hours;
  };
  static constexpr Named kNamed[] = {{"EST", -5}, {"EDT", -4}, {"CST", -6}, {"CDT", -5},
                                     {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
  for (const Named& n : kNamed) {
    if (mime::iequals(zone, n.name)) return n.hours * 60;
  }
  return 0;
}

}  // namespace postern::node::imap
