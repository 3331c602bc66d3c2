// Byte-level text helpers for SEARCH's string keys: case folding, transfer
// decodings, a zero-copy walk over raw header fields, the zone of a Date:
// value. No allocation except where noted, so a search over many messages
// reuses its buffers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postern::node::imap {

// Folds case in place, keeping the length: ASCII letters always; with
// `unicode`, also the two-byte UTF-8 capitals of Latin-1, Latin Extended-A,
// Greek and Cyrillic (and final sigma to sigma). Other bytes are untouched, so
// a needle folded the same way matches regardless of the haystack's case.
// Folding only matters for non-ASCII needles: an ASCII needle can never match
// the bytes of a two-byte sequence, so callers pass unicode=false then.
void fold_case(char* data, std::size_t size, bool unicode);

// A folded copy (unicode folding).
std::string folded(std::string_view text);

bool is_ascii(std::string_view text);

// Whether `needle` occurs in `haystack` (both already folded). An empty needle
// always occurs.
bool contains(std::string_view haystack, std::string_view needle);

// Content-Transfer-Encoding decodings of a whole body, appended to `out`,
// lenient as RFC 2045 asks of readers: base64 skips characters outside its
// alphabet and ends a quantum at '='; quoted-printable keeps a malformed "="
// sequence as written. (TransferDecoder streams the same decodings byte by
// byte; these work on a body held whole, several times faster.)
void append_base64(std::string& out, std::string_view in);
void append_quoted_printable(std::string& out, std::string_view in);

// The length of a message's header: up to and including the empty line that
// ends it (CRLF or LF), or the whole text when there is none.
std::size_t header_length(std::string_view message);

struct RawHeaderField {
  std::string_view name;   // without the colon and the blanks before it
  std::string_view value;  // raw: may hold folding line breaks
};

// Walks the fields of a raw header (CRLF or LF line ends). A line that is not
// `name:value` nor a continuation is skipped, as mime::HeaderCollector does.
class RawHeaderReader {
 public:
  explicit RawHeaderReader(std::string_view header) : rest_(header) {}
  bool next(RawHeaderField& field);

 private:
  std::string_view line();  // the next line without its ending
  std::string_view rest_;
};

// Replaces `out` with the field value unfolded (line breaks removed, blanks
// kept) and trimmed, as mime::HeaderCollector makes it.
void unfold_header_value(std::string_view raw, std::string& out);

// The same, with RFC 2047 encoded words decoded to UTF-8 (allocates only when
// the value holds "=?").
void decode_header_value(std::string_view raw, std::string& out);

// The zone of an RFC 5322 date-time, in minutes east of UTC: "+0200", or an
// obsolete name ("GMT", "EST", ...); 0 when absent or unknown (RFC 5322 4.3:
// military zones mean -0000). Comments after the zone are ignored.
int rfc5322_zone_minutes(std::string_view date);

}  // namespace postern::node::imap
