// The IMAP command codec (DESIGN.md section 3): bytes from a client in, commands
// out, no I/O. Used by the back-end IMAP server and by the proxy's pre-login
// dialogue.
//
// Grammar: RFC 3501 section 9 for commands, plus LITERAL+ / LITERAL- (RFC 7888,
// `{n+}`) and literal8 (RFC 3516, `~{n}`). One SP separates arguments; a single
// trailing SP before the line end is tolerated. Lines end in CRLF or a bare LF;
// a CR not followed by LF is a syntax error.
//
// Atoms are what RFC 3501 calls ATOM-CHARs plus what IMAP puts in them in
// practice: `\` (flags), `%` and `*` (sequence sets, LIST patterns) and `]`.
// A `[` inside an atom opens a section that runs to the matching `]` whatever it
// holds (spaces, parentheses, quotes), then the atom goes on, so
// `BODY.PEEK[HEADER.FIELDS (From To)]<0.1024>` is one token. An atom with an
// unclosed `[` at the line end is a syntax error (so is a bare `[Gmail` mailbox
// name; clients quote those).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern::core::imap {

struct Limits {
  std::size_t max_line = 64 * 1024;  // command text excluding literals and line ends
  // Bounds one literal and also the sum of the literals of one command, so that a
  // command never holds more than max_line + max_literal bytes.
  std::uint64_t max_literal = 64 * 1024 * 1024;
  std::size_t max_depth = 16;  // list nesting
  std::size_t max_tokens = 100000;
};

struct Token {
  enum class Kind { Atom, Quoted, Literal, List, Nil };
  Kind kind = Kind::Atom;
  // Atom: as sent. Quoted: without quotes and escapes. Literal: its bytes. Nil:
  // the atom as sent ("NIL", "nil"), for commands that take an astring there.
  // List: empty.
  std::string text;
  std::vector<Token> children;  // List only
  bool literal8 = false;        // Literal sent as `~{n}`
};

struct Command {
  std::string tag;
  // Upper-cased. "UID FETCH" is name "UID" with an atom "FETCH" as first arg:
  // the session looks at it.
  std::string name;
  std::vector<Token> args;
};

struct Error {
  enum class Kind { Syntax, LineTooLong, LiteralTooLarge, TooDeep, TooManyTokens };
  Kind kind = Kind::Syntax;
  std::string tag;  // the command's tag if it was parsed, else ""
  std::string message;
};

enum class Status {
  NeedMore,      // every byte was consumed; nothing complete yet
  Command,       // `command` holds a complete command
  Continuation,  // a synchronising literal of `literal_size` bytes was accepted:
                 // send "+ ..." before feeding more
  Line,          // raw-line mode (expect_line): `line` holds it, without CRLF
  Error,         // `error` says why; the parser has already recovered
};

struct ParseResult {
  Status status = Status::NeedMore;
  std::size_t consumed = 0;  // bytes of the input used; the rest goes to the next feed()
  Command command;           // Status::Command
  Error error;               // Status::Error
  // Status::Continuation: the size of the literal to come. Error LiteralTooLarge:
  // the size the client announced.
  std::uint64_t literal_size = 0;
  std::string line;  // Status::Line
};

std::string_view error_kind_name(Error::Kind kind);

// An incremental parser of client commands. Feed it bytes as they arrive:
//
//   while (!in.empty()) {
//     auto r = parser.feed(in);
//     in.remove_prefix(r.consumed);
//     ... act on r.status ...
//   }
//
// feed() stops after each event (Command, Continuation, Line, Error) so the
// session can act before the following bytes are parsed; an event always consumes
// at least one byte. An empty line between commands is ignored.
//
// Errors are values, and the parser recovers by itself: the rest of the offending
// line is discarded as it arrives, never buffered. If that line ends with a
// non-synchronising literal header (`{n+}`), the n bytes the client sends anyway
// are counted off too; after a synchronising one (`{n}`) nothing is skipped,
// because the client waits for a "+" that never comes. A literal larger than the
// limit is refused when its header line ends: synchronising, the command just
// ends; non-synchronising, its bytes and the rest of its command are discarded.
//
// Memory: at most max_line bytes of command text plus max_literal bytes of
// literals (buffered_bytes()), plus the Token objects (at most max_tokens).
class ImapParser {
 public:
  explicit ImapParser(Limits limits = {});

  ParseResult feed(std::string_view bytes);

  // The next line (the current one if the parser is between commands, else the
  // one after the current command) is returned whole as Status::Line instead of
  // being parsed: IDLE's "DONE", AUTHENTICATE's responses. Same max_line limit;
  // an empty line is a Line too. One call covers one line.
  void expect_line();

  // Bytes held for the command (or raw line) in progress: its text and literals.
  std::size_t buffered_bytes() const { return held_; }

 private:
  enum class State {
    LineStart,
    Tag,
    NameStart,
    Name,
    ArgStart,    // after SP: a token (or the line end: a trailing SP)
    ListStart,   // after '(': a token or ')'
    AfterToken,  // SP, ')' or the line end
    Atom,
    Tilde,  // '~' at a token's start: literal8 or an atom
    Quoted,
    QuotedEscape,
    LiteralOpen,
    LiteralDigits,
    LiteralPlus,
    LiteralClose,  // after '}': only the line end may follow
    LiteralBody,
    RawLine,
    Skip,         // discarding the rest of a bad line
    SkipLiteral,  // discarding a refused or unparsed non-synchronising literal
  };

  // Recognises a line that ends in a literal header, for lines being skipped.
  class LiteralTail {
   public:
    void reset() { state_ = 0; }
    void update(char c);
    // At the line end: the non-synchronising literal that the line announced.
    bool nonsync_literal(std::uint64_t& size) const;

   private:
    int state_ = 0;
    std::uint64_t size_ = 0;
    bool plus_ = false;
  };

  Status step(char c);
  Status head_byte(char c);
  Status token_start(char c);
  Status quoted_byte(char c);
  Status atom_byte(char c);
  Status literal_byte(char c);
  Status end_of_line();
  Status literal_header_done();
  Status finish_command();
  void feed_literal(std::string_view bytes, std::size_t& pos);
  void skip_literal(std::string_view bytes, std::size_t& pos);
  void skip_byte(char c);
  bool count_token();
  void push_token(Token token);
  Status open_list();
  Status close_list();
  void finish_atom();
  Status fail(Error::Kind kind, std::string message);
  Status fail_at_line_end(Error::Kind kind, std::string message);
  void start_line();
  void reset_command();

  Limits limits_;
  State state_ = State::LineStart;
  bool raw_pending_ = false;    // expect_line() waits for the next line start
  bool cr_pending_ = false;     // a CR was seen: only LF may follow
  bool raw_skip_ = false;       // the line being skipped was a raw line: no literals
  std::size_t line_bytes_ = 0;  // command text so far, over all its lines
  std::size_t held_ = 0;
  std::size_t tokens_ = 0;
  std::uint64_t literal_total_ = 0;  // literal bytes accepted for this command
  std::uint64_t remaining_ = 0;      // LiteralBody / SkipLiteral
  std::uint64_t literal_size_ = 0;   // literal header being read
  bool literal_plus_ = false;
  bool literal8_ = false;
  std::size_t bracket_depth_ = 0;
  bool tag_done_ = false;
  LiteralTail tail_;
  std::string tag_;
  std::string name_;
  std::vector<Token> args_;
  std::vector<Token> open_lists_;  // innermost last
  Token current_;                  // the atom, quoted string or literal being read
  std::string line_;               // RawLine
  ParseResult event_;              // what the event step() returned carries
};

}  // namespace postern::core::imap
