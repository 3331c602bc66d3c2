// Follows the commands an IMAP client sends after its login, through the
// proxy's pump, to find a LOGOUT at a command boundary (issue 5: the node
// connection then goes back to the pool instead of closing).
//
// It knows only what framing needs: lines end at LF, and a line ending in a
// literal announcement ({n}, {n+}, ~{n}) is followed by n bytes that are
// data, after which the same command goes on. Literal bytes are skipped by
// count, never looked at, so an APPEND costs nothing here.
//
// The caller presents the bytes not yet passed on, from the first, each
// time more arrive. scan() says how many may go to the node now; a short
// incomplete line at a command's start (it may still become a LOGOUT) is
// held back until its end arrives, and presented again. Bytes it lets go are
// never seen again.
//
// What it cannot follow for sure, it gives up on (lost(): no LOGOUT is
// found any more, the session ends by closing the node connection): a
// synchronising literal ({n}), which the client sends only if the node says
// "+" (after a BAD or NO it never comes, and counting it would misread what
// follows), a literal size out of range, and an IDLE ended by anything but
// DONE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace postern::proxy {

class ImapCommandScanner {
 public:
  // The longest line looked at as a possible LOGOUT ("<tag> LOGOUT\r\n").
  static constexpr std::size_t kMaxLogoutLine = 80;

  struct Result {
    std::size_t pass = 0;        // bytes from the start of the data that may go on
    bool logout = false;         // a LOGOUT command line starts at `pass`
    std::size_t logout_len = 0;  // its length, LF included
    std::string tag;             // its tag
  };

  Result scan(std::string_view data);

  // The scanner could not follow (a literal size out of range): it finds no
  // LOGOUT any more and passes everything.
  bool lost() const { return mode_ == Mode::Lost; }
  // Commands passed whole so far (an IDLE and its DONE count as one): each
  // gets exactly one tagged answer from the node.
  std::uint64_t commands() const { return commands_; }
  // A "{" outside literal data so far: where a literal may have been
  // announced. The node may then frame what follows differently (its
  // parser's own rules for a literal at the end of a bad line), so a count
  // of commands proves nothing about what the node waits for.
  bool saw_brace() const { return saw_brace_; }

 private:
  enum class Mode { CommandStart, InLine, InLiteral, Lost };
  // The line whose content (before LF; CR included) ends with `tail_` + `end`
  // announced a literal: its length, or -1; -2 when the size is unusable.
  std::int64_t literal_at_end(std::string_view end) const;
  void end_of_line(std::string_view last_part);

  Mode mode_ = Mode::CommandStart;
  bool idle_ = false;  // an IDLE is running: the next line must be DONE
  std::uint64_t literal_left_ = 0;
  std::uint64_t commands_ = 0;
  bool saw_brace_ = false;
  std::string tail_;  // the last bytes of the current line (literal announcement)
};

// Counts the tagged answers in what the node sends the client (every byte,
// in order), following response literals by count: with
// ImapCommandScanner::commands() it tells whether the node still owes the
// client anything. A line that starts with "*" or "+" is untagged or a
// continuation request; any other is a command's tagged completion.
class ImapAnswerCounter {
 public:
  void scan(std::string_view data);
  std::uint64_t tagged() const { return tagged_; }
  // Between two responses (no partial line, no literal under way).
  bool at_response_start() const { return mode_ == Mode::ResponseStart; }
  // A literal size it cannot count: it knows nothing any more.
  bool lost() const { return mode_ == Mode::Lost; }
  // A continuation request ("+") so far: the node asked the client for
  // data (a literal, an AUTHENTICATE response, IDLE's DONE).
  bool asked_for_data() const { return asked_for_data_; }

 private:
  enum class Mode { ResponseStart, InLine, InLiteral, Lost };
  void end_of_line(std::string_view last_part);

  Mode mode_ = Mode::ResponseStart;
  std::uint64_t literal_left_ = 0;
  std::uint64_t tagged_ = 0;
  bool asked_for_data_ = false;
  std::string tail_;  // the last bytes of the current line (literal announcement)
};

// Finds the node's answer to the proxy's UNAUTHENTICATE (tagged `tag`, a
// secret of the session) in what the node sends after it: everything before
// the answer line belongs to the client; the answer does not. The caller
// presents the bytes not passed yet, as for ImapCommandScanner; the end of
// the data that may be the start of the answer line is held back.
class ImapAnswerScanner {
 public:
  explicit ImapAnswerScanner(std::string tag) : marker_(std::move(tag) + " ") {}

  struct Result {
    std::size_t pass = 0;        // bytes for the client
    bool done = false;           // the answer line follows at `pass`...
    std::size_t answer_len = 0;  // ...this long, LF included
    bool ok = false;             // it said OK
    bool last = false;           // and nothing followed it
  };
  Result scan(std::string_view data);

 private:
  std::string marker_;
  bool line_start_ = true;  // the next byte starts a line (as far as we know)
};

// "<tag> LOGOUT" (any case), with the line's CRLF or LF stripped: its tag.
bool is_logout_line(std::string_view line, std::string* tag);

}  // namespace postern::proxy
