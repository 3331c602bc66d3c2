#include "backend/queue/dot_stuffer.hpp"

namespace postern::node::queue {

std::string DotStuffer::feed(std::string_view chunk) {
  std::string out;
  out.reserve(chunk.size() + chunk.size() / 64 + 2);
  for (char ch : chunk) {
    if (line_start_ && ch == '.') out += '.';
    if (ch == '\n' && !after_cr_) out += '\r';
    out += ch;
    line_start_ = ch == '\n';
    after_cr_ = ch == '\r';
  }
  return out;
}

std::string DotStuffer::finish() {
  std::string out;
  if (!line_start_) out = after_cr_ ? "\n" : "\r\n";
  out += ".\r\n";
  line_start_ = true;
  after_cr_ = false;
  return out;
}

}  // namespace postern::node::queue
