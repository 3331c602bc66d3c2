// The DATA phase of an SMTP transaction (RFC 5321 4.1.1.4, 4.5.2): bytes from
// the client in, the message out, without the dot-stuffing, up to the
// end-of-data line. No I/O.
//
// Only <CRLF>.<CRLF> ends the data. A bare LF is message content, so "\n.\n"
// or "\n.\r\n" never end it: a client (or a proxy in between) that reads a
// bare LF as a line end cannot smuggle a second message past us (the SMTP
// smuggling of CVE-2023-51766 and its kin). The body is passed on as sent; the
// spool makes bare LFs CRLF.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace postern::node::smtp {

class DataReader {
 public:
  struct Result {
    std::size_t consumed = 0;  // input bytes used; the rest is the next command
    bool done = false;         // the end-of-data line was read
  };
  // Appends the message bytes found in `input` to `out`. Stops right after the
  // end-of-data line, so pipelined commands behind it stay unread.
  Result feed(std::string_view input, std::string& out);
  // Starts a new message.
  void reset() { state_ = State::LineStart; }

 private:
  // Where we are in the current line.
  enum class State {
    LineStart,  // after CRLF (or at the start): a '.' here is special
    Dot,        // "." at line start seen
    DotCr,      // ".\r" at line start seen
    Middle,     // inside a line
    Cr,         // a CR inside (or ending) a line
  };
  State state_ = State::LineStart;
};

}  // namespace postern::node::smtp
