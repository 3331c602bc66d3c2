// The body of a RETR or TOP reply, built chunk by chunk from the message file
// (RFC 1939 section 3): a line starting with "." gets one more "." in front,
// and the reply ends with ".\r\n" on a line of its own. For TOP, only the
// header, the blank line after it and the first `n` body lines go out.
//
// Pure and incremental: the session reads the file in chunks on the worker pool
// and feeds them here, so a message of any size needs one chunk of memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::node::pop3 {

class DotStuffer {
 public:
  // `body_lines`: nullopt = the whole message (RETR); n = TOP's header plus n
  // body lines.
  explicit DotStuffer(std::optional<std::uint64_t> body_lines = std::nullopt)
      : body_lines_(body_lines) {}

  // Appends the stuffed form of `in` to `out`. Once TOP's limit is reached the
  // rest is ignored and done() is true.
  void feed(std::string_view in, std::string& out);
  bool done() const { return done_; }

  // Ends the reply: CRLF if the last line had none, then ".\r\n".
  void finish(std::string& out);

 private:
  void end_of_line();

  std::optional<std::uint64_t> body_lines_;
  bool at_line_start_ = true;
  bool line_is_blank_ = true;  // nothing or one CR so far on this line
  std::uint64_t line_length_ = 0;
  bool in_body_ = false;
  std::uint64_t body_lines_sent_ = 0;
  bool done_ = false;
};

}  // namespace postern::node::pop3
