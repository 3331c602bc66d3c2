// The text helpers of core/http_message.hpp: percent-encoding (RFC 3986
// 2.1), form-encoded queries (WHATWG URL, application/x-www-form-urlencoded)
// and the Cookie header (RFC 6265 5.4).
#include "core/http_message.hpp"

namespace postern::core::http {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (in.size() - i < 3) return std::nullopt;
      const int hi = hex_digit(in[i + 1]);
      const int lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string percent_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (is_unreserved(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// The first pair whose decoded name matches wins; a pair that does not
// decode is skipped rather than failing the whole query.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    const auto key = percent_decode(pair.substr(0, eq), true);
    if (key && *key == name) {
      if (eq == std::string_view::npos) return std::string();
      if (auto value = percent_decode(pair.substr(eq + 1), true)) return value;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

// Browsers send one Cookie field with "a=1; b=2"; the first pair named
// `name` is the one with the most specific path (RFC 6265 5.4 step 2).
std::optional<std::string> cookie_value(const Headers& headers, std::string_view name) {
  for (const auto& f : headers.fields) {
    if (f.name.size() != 6) continue;
    std::string lower = f.name;
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower != "cookie") continue;
    std::string_view list = f.value;
    while (!list.empty()) {
      const std::size_t semi = list.find(';');
      const std::string_view pair = trim_spaces(list.substr(0, semi));
      const std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos && trim_spaces(pair.substr(0, eq)) == name) {
        std::string_view value = trim_spaces(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
          value = value.substr(1, value.size() - 2);
        }
        return std::string(value);
      }
      if (semi == std::string_view::npos) break;
      list.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

}  // namespace postern::core::http
