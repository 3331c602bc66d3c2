// Small text helpers shared by the unit tests.
#pragma once

#include <string>
#include <string_view>

namespace postern::test {

// `text` with every LF turned into CRLF: mail written readably in a test,
// sent as the wire carries it.
inline std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

}  // namespace postern::test
