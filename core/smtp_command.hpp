// The SMTP command codec (DESIGN.md section 3): bytes from a client in, command
// lines and command values out, no I/O. Used by the node's SMTP server and the
// proxy. Grammar: RFC 5321 section 4.1 with the extensions' parameters (RFC 1870
// SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8, RFC 3461 DSN, RFC 4954 AUTH) and
// Postfix's XCLIENT. Errors are values that carry the reply the session sends.
#pragma once

#include <tl/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::core::smtp {

// A reply the session can send as is: "<code> <enhanced> <text>".
struct Reply {
  int code = 0;
  std::string enhanced;  // "5.5.4"
  std::string text;
};

// ---- Line codec --------------------------------------------------------------

struct LineLimits {
  // RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF.
  std::size_t max_line = 512;
};

enum class LineStatus {
  NeedMore,  // every byte was consumed; no line complete yet
  Line,      // `line` holds a command line without its line end
  Error,     // `error` holds the reply; the bad line has been discarded
};

struct LineEvent {
  enum class ErrorKind { None, TooLong, Nul };
  LineStatus status = LineStatus::NeedMore;
  std::size_t consumed = 0;  // bytes of the input used; the rest goes to the next feed()
  std::string line;          // LineStatus::Line
  ErrorKind kind = ErrorKind::None;
  Reply error;  // LineStatus::Error
};

// Splits the command phase into lines. Lines end in CRLF or a bare LF (the CR
// is dropped). feed() stops after each Line or Error event, so the session can
// act on a command (say STARTTLS or DATA) before the following bytes are read.
//
// A bad line is reported once, when its line end arrives (so replies keep the
// order of pipelined commands), and is never buffered: a line longer than the
// limit or holding a NUL stops being stored at that point and its remaining
// bytes are counted off. buffered_bytes() never exceeds max_line.
class LineCodec {
 public:
  explicit LineCodec(LineLimits limits = {});

  LineEvent feed(std::string_view bytes);

  std::size_t buffered_bytes() const { return line_.size(); }

 private:
  LineLimits limits_;
  std::string line_;
  bool too_long_ = false;
  bool nul_ = false;
};

// ---- Commands ----------------------------------------------------------------

enum class Verb {
  Helo,
  Ehlo,
  Mail,
  Rcpt,
  Data,
  Rset,
  Noop,
  Quit,
  Vrfy,
  Expn,
  Help,
  Starttls,
  Auth,
  Bdat,
  Xclient,
};

std::string_view verb_name(Verb verb);

// A reverse-path (MAIL) or forward-path (RCPT), source route dropped.
struct Path {
  bool null = false;        // MAIL FROM:<>
  bool postmaster = false;  // RCPT TO:<Postmaster> (no domain)
  std::string local_part;   // as sent: a quoted local part keeps its quotes
  // A domain or an address literal "[1.2.3.4]"; empty for the postmaster and
  // for an unqualified RCPT "<alice>" (the session adds its primary domain).
  std::string domain;
  bool utf8 = false;        // non-ASCII octets: the session requires SMTPUTF8
  // "local@domain", "Postmaster" or "" for the null path.
  std::string address() const;
};

// An ESMTP parameter: keyword upper-cased, value as sent (xtext not decoded).
struct Parameter {
  std::string keyword;
  std::optional<std::string> value;
};

struct XclientAttribute {
  enum class Name { Name, Addr, Port, Proto, Helo, Login, DestAddr, DestPort };
  enum class State { Value, Unavailable, TempUnavailable };
  Name name = Name::Name;
  State state = State::Value;
  std::string value;  // xtext-decoded; empty unless State::Value
};

struct Command {
  Verb verb = Verb::Noop;
  // What follows the verb and one SP, as sent: the HELO/EHLO domain, the
  // VRFY/EXPN/HELP/NOOP/AUTH argument. Empty for MAIL/RCPT/XCLIENT (see below).
  std::string argument;
  Path path;                              // MAIL, RCPT
  std::vector<Parameter> parameters;      // MAIL, RCPT
  std::vector<XclientAttribute> xclient;  // XCLIENT
};

// Parses one command line (without its line end). Verbs are case-insensitive.
// Errors: 500 5.5.2 unknown verb; 501 5.5.4 bad arguments; 555 5.5.4 a MAIL/RCPT
// parameter this server does not know; 504 5.5.4 a known parameter with a
// value it does not implement (BODY=BINARYMIME); 502 5.5.1 for BDAT (CHUNKING
// is not offered, so the verb is recognised only to say so).
tl::expected<Command, Reply> parse_command(std::string_view line);

// The attributes of an XCLIENT command ("NAME=x ADDR=y ..."), Postfix's form:
// values are xtext; "[UNAVAILABLE]" and "[TEMPUNAVAIL]" are states.
tl::expected<std::vector<XclientAttribute>, Reply> parse_xclient(std::string_view args);

// RFC 3461 xtext: "+" HEX HEX encodes one octet. nullopt when malformed.
std::optional<std::string> xtext_decode(std::string_view text);

}  // namespace postern::core::smtp
