// Where the bytes of a FETCH body item come from (RFC 3501 section 6.4.5,
// RFC 3516): section numbering over the cached MIME structure, HEADER.FIELDS
// filtering, and the blocking file reads BINARY and HEADER.FIELDS need.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "backend/imap/fetch_request.hpp"
#include "backend/imap/transfer_decoder.hpp"
#include "backend/mime/message_part.hpp"

namespace postern::node::imap {

// A byte range of the message file.
struct FileRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool operator==(const FileRange&) const = default;
};

// The range BODY[section] covers; for HEADER.FIELDS(.NOT), the header range to
// filter. nullopt when the section names no part (the caller answers ""), and
// for HEADER/TEXT/HEADER.FIELDS after a part number that is not a
// message/rfc822 part. Ranges are clamped to `size`, the file's size.
std::optional<FileRange> section_range(const mime::MessagePart& root, std::uint64_t size,
                                       const Section& section);

// The part BINARY[part] decodes: nullptr when there is none. For "" (the whole
// message) returns &root; callers treat that, and multipart or message/rfc822
// parts, as already binary (RFC 2046 allows them only identity encodings).
const mime::MessagePart* binary_part(const mime::MessagePart& root, std::string_view part);

// Keeps or drops header fields by name, fed the raw header in chunks of any
// size: continuation lines follow their field, names are matched without
// regard to case or blanks before the colon, and the output ends with the
// blank line that ends a header (RFC 3501 HEADER.FIELDS), even if the input
// had none. Input after the blank line is ignored.
class HeaderFieldFilter {
 public:
  // `fields` upper-case (as Section holds them), borrowed for the filter's life.
  HeaderFieldFilter(std::span<const std::string> fields, bool exclude);
  void feed(std::string_view in, std::string& out);
  void finish(std::string& out);

 private:
  void decide(std::string& out);
  void put(char c, std::string& out);

  std::span<const std::string> fields_;
  bool exclude_;
  bool line_start_ = true;
  bool in_name_ = false;
  bool include_ = false;
  bool done_ = false;
  bool overlong_ = false;  // the name being read is too long to be one we look for
  char last_ = '\n';       // last byte written
  std::string name_;
};

// BLOCKING. Calls `f` with successive pieces of the range (at most 64 KiB
// each). False on a read error or if the file is shorter.
bool read_chunks(int fd, FileRange range, const std::function<void(std::string_view)>& f);

// BLOCKING. Appends bytes [offset, offset + length) of `fd` to `out`. False on a
// read error or if the file is shorter (what was read stays appended).
bool read_range(int fd, FileRange range, std::string& out);

// BLOCKING. The header range `range` of `fd` filtered as above.
std::string read_header_fields(int fd, FileRange range, const Section& section);

// BLOCKING. The range decoded; `decoded_size` is its length when only that
// is needed (BINARY.SIZE), computed without keeping the bytes.
std::string read_decoded(int fd, FileRange range, TransferEncoding encoding);
std::uint64_t decoded_size(int fd, FileRange range, TransferEncoding encoding);

// BLOCKING. Whether the range holds a NUL byte (BINARY must then use literal8).
bool range_has_nul(int fd, FileRange range);

}  // namespace postern::node::imap
