// Header fields of a message or MIME part (RFC 5322 section 2.2), collected
// line by line with unfolding and hard limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::node::mime {

constexpr std::size_t kDefaultMaxHeaderBytes = 1024 * 1024;
constexpr std::size_t kDefaultMaxHeaderFields = 10000;

struct HeaderField {
  std::string name;   // as written, without the colon or the blanks before it
  std::string value;  // unfolded (line breaks removed, blanks kept), trimmed at both ends

  bool operator==(const HeaderField&) const = default;
};

// Builds fields from a part's header lines. A line that starts with a space or
// tab continues the field before it; a line that is neither that nor
// `name:value` (a valid name is printable ASCII without ':') is skipped.
//
// Limits: once `max_bytes` of header text (counting 2 bytes per line ending)
// or `max_fields` fields have been seen, the rest of the header is ignored:
// the fields completed before are kept, a field cut by the limit is dropped.
// This never fails; a huge header only loses its tail.
class HeaderCollector {
 public:
  explicit HeaderCollector(std::size_t max_bytes = kDefaultMaxHeaderBytes,
                           std::size_t max_fields = kDefaultMaxHeaderFields);

  // One header line without its line ending. `full_length` is the line's real
  // length; when it exceeds line.size() the caller cut the line short (it never
  // needs to keep more than remaining() + 1 bytes), and that ends collection.
  void add_line(std::string_view line, std::uint64_t full_length);

  // How many more bytes of header text will be kept.
  std::size_t remaining() const;

  // Completes the last field and hands over the fields in order. The collector
  // is then empty, with its budget spent.
  std::vector<HeaderField> take_fields();

 private:
  void complete_field();

  std::size_t max_bytes_;
  std::size_t max_fields_;
  std::size_t used_ = 0;
  std::size_t seen_fields_ = 0;
  bool exhausted_ = false;
  std::optional<HeaderField> current_;
  std::vector<HeaderField> fields_;
};

// The value of the first field called `name` (case-insensitive), if any.
const HeaderField* find_field(const std::vector<HeaderField>& fields, std::string_view name);

}  // namespace postern::node::mime
