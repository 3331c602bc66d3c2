#include "backend/store/account_path.hpp"

namespace postern::node::store {

namespace {

bool is_safe_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
         c == '-';
}

void append_escaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

}  // namespace

std::string encode_path_component(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    if (is_safe_byte(c)) {
      out += static_cast<char>(c);
    } else {
      append_escaped(out, c);
    }
  }
  // "." and ".." are the only safe-byte strings the kernel treats specially.
  if (out == "." || out == "..") {
    std::string dots;
    for (std::size_t i = 0; i < out.size(); ++i) append_escaped(dots, '.');
    return dots;
  }
  return out;
}

StoreResult<std::string> account_relative_path(std::string_view address) {
  if (address.empty() || address.size() > kMaxAddressBytes) return fail(StoreError::BadArgument);
  // The last '@': a quoted local part may itself contain one.
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) {
    return fail(StoreError::BadArgument);
  }
  std::string path = encode_path_component(address.substr(at + 1));
  path += '/';
  path += encode_path_component(address.substr(0, at));
  return path;
}

}  // namespace postern::node::store
