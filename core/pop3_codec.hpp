// The POP3 command codec (DESIGN.md section 3): bytes from a client in,
// command lines out, no I/O. The node's POP3 server and the proxy's
// pre-login dialogue share it.
//
// RFC 1939 section 3: a command is a case-insensitive keyword, possibly
// followed by arguments separated by a single space, ended by CRLF. Clients
// in the wild also send bare LF and double spaces, so a line ends at LF (one
// CR before it is dropped) and runs of spaces separate arguments.
//
// RFC 2449 section 4 caps a command line at 255 octets with its CRLF; we
// accept up to `max_command` so that long user names still fit, and reply to
// anything longer without buffering it. AUTH continuation lines (RFC 5034)
// carry base64 and get their own, larger limit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace postern::core::pop3 {

struct CodecLimits {
  std::size_t max_command = 512;     // one command line, without its line end
  std::size_t max_auth_line = 4096;  // one AUTH continuation line
};

struct Pop3Command {
  std::string name;               // the keyword, upper-cased ("" for an empty line)
  std::vector<std::string> args;  // the words after it
  std::string rest;               // everything after the keyword and one space, as sent
};

enum class CodecStatus {
  NeedMore,  // every byte was consumed; nothing complete yet
  Command,   // `command` holds a complete command line
  Line,      // raw-line mode (expect_line): `line` holds it, without its line end
  TooLong,   // the line is over the limit; its remaining bytes are skipped as they come
};

struct CodecResult {
  CodecStatus status = CodecStatus::NeedMore;
  std::size_t consumed = 0;  // bytes of the input used; feed the rest again
  Pop3Command command;       // Command
  std::string line;          // Line
};

std::string_view codec_status_name(CodecStatus s);

// Incremental: feed() stops after each event, so the session can act (and
// switch to raw-line mode) before the next bytes are looked at. An event always
// consumes at least one byte; NeedMore consumes all of them. At most
// max(max_command, max_auth_line) + 1 bytes are held.
class Pop3Codec {
 public:
  explicit Pop3Codec(CodecLimits limits = {}) : limits_(limits) {}

  CodecResult feed(std::string_view bytes);

  // The next line is returned whole as Status::Line (AUTH's client responses),
  // with the max_auth_line limit. One call covers one line.
  void expect_line() { raw_line_ = true; }
  // Forgets the partial line and raw-line mode (after STLS, RFC 2595 section 4).
  void reset();

  std::size_t buffered_bytes() const { return line_.size(); }

 private:
  std::size_t limit() const { return raw_line_ ? limits_.max_auth_line : limits_.max_command; }
  CodecResult complete(std::size_t consumed);

  CodecLimits limits_;
  std::string line_;       // the current line so far, without LF
  bool skipping_ = false;  // dropping the rest of an over-long line
  bool raw_line_ = false;
};

// Splits one line (without its line end) into keyword, words and rest.
Pop3Command split_command(std::string_view line);

}  // namespace postern::core::pop3
