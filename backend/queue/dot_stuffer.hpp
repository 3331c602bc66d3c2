// The DATA encoding of a message (RFC 5321 4.5.2): a '.' that starts a line
// is doubled, line ends go out as CRLF (a bare LF gets its CR), and the
// message ends with CRLF "." CRLF. Stateful across chunks, no I/O.
#pragma once

#include <string>
#include <string_view>

namespace postern::node::queue {

class DotStuffer {
 public:
  // The encoding of the next chunk of the message.
  std::string feed(std::string_view chunk);
  // The end: a CRLF if the message did not end with one, then ".\r\n".
  std::string finish();

 private:
  bool line_start_ = true;
  bool after_cr_ = false;
};

}  // namespace postern::node::queue
