// The MIME structure parser the store runs once, at delivery, over a message
// file's bytes (RFC 5322, RFC 2045, RFC 2046).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/mime/header.hpp"
#include "backend/mime/message_part.hpp"

namespace postern::node::mime {

struct Limits {
  // Header text kept per part (RFC 5322 headers are seldom over a few KB); the
  // rest of a bigger header is skipped, the message is still parsed.
  std::size_t max_header_bytes = kDefaultMaxHeaderBytes;
  std::size_t max_header_fields = kDefaultMaxHeaderFields;
  // Nesting of multiparts and message/rfc822: a part this deep is an opaque leaf.
  std::size_t max_depth = 100;
  // Parts in the whole message, the top level included: past this, boundary
  // lines that would start a new part are ordinary body lines.
  std::size_t max_parts = 10000;
  // RFC 2046 allows 70; a longer boundary parameter is still honoured up to this.
  std::size_t max_boundary_bytes = 200;
};

// An incremental, one-pass parser: feed() the message in chunks of any size
// (the result does not depend on where they are cut), then finish(). It does
// no I/O and never fails: malformed input yields the structure a careful
// reader would see (missing closing boundaries end parts at the end of the
// message, LF-only line ends work like CRLF, 8-bit header bytes are kept).
//
// Memory: the header of the part being read (at most max_header_bytes), one
// line prefix (a header line, or the first bytes of a body line, enough to
// recognise a boundary), a frame per open nesting level and the finished
// parts' structure. Bodies are never held.
class MessageParser {
 public:
  explicit MessageParser(Limits limits = {});
  ~MessageParser();
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  void feed(std::string_view bytes);

  // Ends the input and returns the top-level part (whose offsets span the
  // whole message). The parser is then reset and may parse another message.
  MessagePart finish();

  // Total bytes fed since construction or the last finish().
  std::uint64_t offset() const { return offset_; }

 private:
  enum class Phase { Headers, Leaf, Preamble, Parts, Epilogue, Encapsulated };
  struct Frame;
  struct Line {
    std::uint64_t start = 0;
    std::uint64_t length = 0;  // without the line ending
    unsigned ending = 0;       // 2 for CRLF, 1 for LF, 0 at the end of input
    std::string_view kept;     // the first bytes of the line (up to length)
  };
  struct BoundaryMatch {
    std::size_t frame = 0;
    bool close = false;
  };

  void reset();
  void begin_line();
  void end_line(unsigned lf);
  void on_line(const Line& line);
  bool match_boundary(std::string_view kept, BoundaryMatch& match) const;
  void on_boundary(const Line& line, const BoundaryMatch& match);
  void end_headers(std::uint64_t body_offset, std::uint64_t body_lf);
  void apply_headers(Frame& frame);
  Phase settle(Frame& frame, std::size_t depth) const;
  void push_part(std::uint64_t header_offset, bool is_message, bool in_digest);
  void close_top(std::uint64_t end, std::uint64_t end_lf);
  void close_frame(Frame& frame, std::uint64_t end, std::uint64_t end_lf);

  Limits limits_;
  std::uint64_t offset_ = 0;    // bytes consumed
  std::uint64_t lf_count_ = 0;  // LFs before the current line
  std::size_t parts_ = 0;       // parts started so far

  // The line being read.
  bool line_open_ = false;
  std::uint64_t line_start_ = 0;
  std::uint64_t line_raw_ = 0;  // bytes so far, a CR before the LF included
  char line_last_ = 0;          // its last byte so far
  std::size_t line_keep_ = 0;   // how many of its bytes to keep
  std::string line_;
  unsigned prev_ending_ = 0;  // line ending length of the previous line

  std::vector<Frame> frames_;                 // open parts, outermost first
  std::vector<std::size_t> boundary_frames_;  // frames_ indices with a live boundary
};

// Convenience for tests and tools: parses a whole message held in memory.
MessagePart parse_message(std::string_view message, Limits limits = {});

}  // namespace postern::node::mime
