// Replies of an SMTP server as the client reads them (RFC 5321 4.2): bytes
// in, complete (possibly multi-line) replies out, no I/O. Also what an EHLO
// reply says about the server's extensions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern::node::queue {

struct SmtpReply {
  int code = 0;                    // 100..599
  std::vector<std::string> lines;  // the text after "NNN-" / "NNN ", sanitised
  bool positive() const { return code >= 200 && code < 300; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500 && code < 600; }
  // "550 5.1.1 No such user", lines joined by a space, for logs and DSNs.
  std::string to_string() const;
};

struct ReplyLimits {
  // RFC 5321 4.5.3.1.5 says 512 octets; some servers send longer lines.
  std::size_t max_line = 2048;
  std::size_t max_lines = 100;  // an EHLO reply has a dozen
};

enum class ReplyStatus {
  NeedMore,  // every byte was consumed; no reply complete yet
  Reply,     // `reply` is complete
  Error,     // not an SMTP reply (garbage, too long): the session gives up
};

struct ReplyEvent {
  ReplyStatus status = ReplyStatus::NeedMore;
  std::size_t consumed = 0;  // bytes used; feed the rest again
  SmtpReply reply;
  std::string error;  // ReplyStatus::Error: what was wrong, for our own reply text
};

// Stops after each complete reply so the session can act on it (STARTTLS:
// the bytes after 220 must not be read as plaintext). After an Error the
// parser must not be fed again.
class ReplyParser {
 public:
  explicit ReplyParser(ReplyLimits limits = {}) : limits_(limits) {}
  ReplyEvent feed(std::string_view bytes);

 private:
  ReplyEvent line_done(std::size_t consumed);

  ReplyLimits limits_;
  std::string line_;
  bool too_long_ = false;
  SmtpReply current_;
};

// What EHLO announced (RFC 1869 keywords).
struct SmtpExtensions {
  bool pipelining = false;
  bool size = false;
  std::uint64_t max_size = 0;  // 0: none announced
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool dsn = false;
  bool starttls = false;
  bool enhanced_status_codes = false;
};
SmtpExtensions parse_ehlo(const SmtpReply& ehlo_reply);

}  // namespace postern::node::queue
