#include "backend/pop3/dot_stuffer.hpp"

namespace postern::node::pop3 {

void DotStuffer::feed(std::string_view in, std::string& out) {
  while (!in.empty() && !done_) {
    if (at_line_start_) {
      if (in.front() == '.') out += '.';
      at_line_start_ = false;
      line_is_blank_ = true;
      line_length_ = 0;
    }
    const std::size_t lf = in.find('\n');
    const std::size_t text = lf == std::string_view::npos ? in.size() : lf;
    // A blank line is "" or "\r" before its LF, however the chunks cut it.
    for (std::size_t i = 0; i < text && line_is_blank_; ++i) {
      if (in[i] != '\r' || line_length_ + i > 0) line_is_blank_ = false;
    }
    line_length_ += text;
    if (lf == std::string_view::npos) {
      out.append(in);
      return;
    }
    out.append(in.substr(0, lf + 1));
    in.remove_prefix(lf + 1);
    end_of_line();
  }
}

void DotStuffer::end_of_line() {
  at_line_start_ = true;
  if (!in_body_) {
    in_body_ = line_is_blank_;
  } else {
    ++body_lines_sent_;
  }
  if (body_lines_ && in_body_ && body_lines_sent_ >= *body_lines_) done_ = true;
}

void DotStuffer::finish(std::string& out) {
  if (!at_line_start_) out += "\r\n";
  out += ".\r\n";
}

}  // namespace postern::node::pop3
