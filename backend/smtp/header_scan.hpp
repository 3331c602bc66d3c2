// Watches a message go by and counts its Received header fields (RFC 5321
// 6.3: a message that has passed too many hosts is in a loop). Streaming: any
// split of the input gives the same count; no buffering beyond the first few
// bytes of a line. No I/O.
//
// The header section ends at the first empty line (CRLF CRLF, or a bare LF
// one: the scanner is lenient where the count is concerned). A field is
// counted when a line that is not a continuation starts with "Received"
// (any case), optional spaces or tabs, and ":".
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace postern::node::smtp {

class HeaderScanner {
 public:
  void feed(std::string_view bytes);
  std::size_t received() const { return received_; }
  // Whether the body has started (the empty line was seen).
  bool headers_done() const { return done_; }
  void reset() { *this = HeaderScanner(); }

 private:
  std::size_t received_ = 0;
  bool done_ = false;
  bool line_start_ = true;
  bool matching_ = false;    // the line so far is a prefix of "received" [WSP] ":"
  std::size_t matched_ = 0;  // letters of "received" matched
  bool pending_cr_ = false;  // a CR at line start: an empty line if LF follows
};

}  // namespace postern::node::smtp
