#include "backend/mime/encoded_words.hpp"

#include <optional>

#include "backend/mime/charset.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::mime {

namespace {

struct EncodedWord {
  std::string_view charset;
  std::string bytes;       // decoded, still in `charset`
  std::size_t length = 0;  // of the whole "=?...?=" in the input
};

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string decode_q(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '_') {
      out += ' ';
    } else if (c == '=' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += c;  // a lone '=' is kept: real mailers emit it
    }
  }
  return out;
}

// `text` starts with "=?". Returns the encoded word there, if it is one.
std::optional<EncodedWord> parse_word(std::string_view text) {
  const std::size_t q1 = text.find('?', 2);
  if (q1 == std::string_view::npos || q1 == 2 || q1 + 3 > text.size()) return std::nullopt;
  if (text[q1 + 2] != '?') return std::nullopt;
  const char encoding = ascii_lower(text[q1 + 1]);
  if (encoding != 'b' && encoding != 'q') return std::nullopt;
  const std::size_t end = text.find("?=", q1 + 3);
  if (end == std::string_view::npos) return std::nullopt;

  std::string_view charset = text.substr(2, q1 - 2);
  const std::string_view payload = text.substr(q1 + 3, end - (q1 + 3));
  for (char c : charset) {
    if (is_wsp(c) || c == '\r' || c == '\n') return std::nullopt;
  }
  for (char c : payload) {
    if (is_wsp(c) || c == '\r' || c == '\n') return std::nullopt;
  }
  if (auto star = charset.find('*'); star != std::string_view::npos) {
    charset = charset.substr(0, star);  // RFC 2231 section 5: charset*language
  }
  if (charset.empty()) return std::nullopt;

  EncodedWord word;
  word.charset = charset;
  word.length = end + 2;
  if (encoding == 'q') {
    word.bytes = decode_q(payload);
  } else if (!decode_base64(payload, word.bytes)) {
    return std::nullopt;
  }
  return word;
}

// Adjacent encoded words in one charset, waiting to be converted together.
struct Run {
  std::string charset;
  std::string bytes;
  std::string raw;  // the words as written, kept if the charset is unknown

  void flush(std::string& out) {
    if (raw.empty()) return;
    if (auto utf8 = charset_to_utf8(charset, bytes)) {
      out += *utf8;
    } else {
      out += raw;
    }
    charset.clear();
    bytes.clear();
    raw.clear();
  }
};

bool all_wsp(std::string_view s) {
  for (char c : s) {
    if (!is_wsp(c) && c != '\r' && c != '\n') return false;
  }
  return true;
}

}  // namespace

bool decode_base64(std::string_view in, std::string& out) {
  unsigned bits = 0;
  int nbits = 0;
  std::size_t padding = 0;
  for (char c : in) {
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = base64_value(c);
    if (v < 0 || padding > 0) return false;  // data after padding is malformed
    bits = (bits << 6) | static_cast<unsigned>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xFF);
    }
  }
  return padding <= 2;
}

std::string decode_encoded_words(std::string_view text) {
  std::string out;
  Run run;
  std::size_t pos = 0;   // first input byte not yet copied or decoded
  std::size_t scan = 0;  // where to look for the next "=?"
  bool after_word = false;
  while (true) {
    const std::size_t at = text.find("=?", scan);
    if (at == std::string_view::npos) break;
    auto word = parse_word(text.substr(at));
    if (!word) {
      scan = at + 1;
      continue;
    }
    const std::string_view between = text.substr(pos, at - pos);
    if (after_word && all_wsp(between)) {
      run.raw += between;  // dropped if the run decodes (RFC 2047 section 6.2)
    } else {
      run.flush(out);
      out += between;
    }
    if (!run.raw.empty() && !iequals(run.charset, word->charset)) run.flush(out);
    run.charset = std::string(word->charset);
    run.bytes += word->bytes;
    run.raw += text.substr(at, word->length);
    pos = scan = at + word->length;
    after_word = true;
  }
  run.flush(out);
  out += text.substr(pos);
  return out;
}

}  // namespace postern::node::mime
