// Strings as IMAP writes them: quoting for responses, modified UTF-7 mailbox
// names (RFC 3501 section 5.1.3) and sequence sets (RFC 3501 section 9).
// Pure functions; nothing here throws on bad input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::core::imap {

// A quoted string ("a \"b\"") when the text allows one (7-bit, no CR, LF or NUL,
// at most kMaxQuotedBytes); otherwise a literal "{n}\r\n" followed by the bytes.
std::string imap_quote(std::string_view text);

// An atom when the text is one (ASTRING-CHARs only, not empty and not "NIL"),
// otherwise imap_quote(text).
std::string imap_astring(std::string_view text);

constexpr std::size_t kMaxQuotedBytes = 1024;

// Modified UTF-7 to UTF-8. nullopt when the name is not valid modified UTF-7:
// a byte outside 0x20-0x7e, an unterminated or malformed "&...-" sequence, bad
// UTF-16, non-zero padding bits, or printable US-ASCII (or NUL) encoded in base64.
std::optional<std::string> mutf7_to_utf8(std::string_view mutf7);

// UTF-8 to modified UTF-7. Bytes that are not valid UTF-8 are encoded as U+FFFD.
std::string utf8_to_mutf7(std::string_view utf8);

// A parsed sequence set: "1:*,5,7:9". Numbers are 1..2^32-1; `*` is kept as
// kStar and resolved against the caller's value (the highest sequence number or
// UID) when the set is used.
struct SequenceSet {
  static constexpr std::uint32_t kStar = 0;  // never a valid number

  struct Range {
    std::uint32_t first = 0;  // as written: `5:3` stays 5..3, `*` stays kStar
    std::uint32_t last = 0;
    bool operator==(const Range&) const = default;
  };
  std::vector<Range> ranges;

  // Whether n is in the set once `*` means star_value (a range is unordered).
  bool contains(std::uint32_t n, std::uint32_t star_value) const;

  // The set with `*` resolved: ranges sorted, first <= last, overlapping and
  // adjacent ranges merged.
  std::vector<Range> normalized(std::uint32_t star_value) const;

  // How many distinct numbers the resolved set holds.
  std::uint64_t count(std::uint32_t star_value) const;

  // Calls f(n) for each distinct number n <= limit of the resolved set, in
  // ascending order. A client can write 1:4294967295, so pass a limit (the
  // highest existing number) rather than iterate the whole range.
  template <typename F>
  void for_each(std::uint32_t star_value, std::uint32_t limit, F&& f) const {
    for (const Range& r : normalized(star_value)) {
      if (r.first > limit) break;
      const std::uint32_t last = r.last < limit ? r.last : limit;
      for (std::uint32_t n = r.first;; ++n) {
        f(n);
        if (n == last) break;
      }
    }
  }

  // The set as written, e.g. "1:*,5".
  std::string to_string() const;

  bool operator==(const SequenceSet&) const = default;
};

// nullopt unless the whole text is a sequence-set: no spaces, no empty
// elements, no zero, no leading zeros, no number above 2^32-1.
std::optional<SequenceSet> parse_sequence_set(std::string_view text);

}  // namespace postern::core::imap
