// The MIME structure of a stored message: one MessagePart per body part, with
// the byte offsets IMAP serves BODY[section] from and the fields BODYSTRUCTURE
// and ENVELOPE are built from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/mime/content_params.hpp"
#include "backend/mime/envelope.hpp"
#include "backend/mime/header.hpp"

namespace postern::node::mime {

// Offsets are absolute positions in the message file. A part's header runs from
// header_offset to body_offset (including the blank line that ends it, when
// there is one) and its body from body_offset to end_offset. Following RFC
// 2046, the line break before a boundary line belongs to the boundary, and a
// multipart's preamble and epilogue belong to the multipart's body only.
struct MessagePart {
  std::uint64_t header_offset = 0;
  std::uint64_t body_offset = 0;
  std::uint64_t end_offset = 0;
  std::uint32_t body_lines = 0;  // LF characters in the body

  // Lower-case. Without a (valid) Content-Type: text/plain, or message/rfc822
  // inside multipart/digest. A multipart without a usable boundary parameter is
  // recorded as text/plain; a multipart or message/rfc822 nested deeper than
  // the parser's limit as application/octet-stream (an opaque leaf).
  std::string type = "text";
  std::string subtype = "plain";
  Params params;  // text/* always has a charset (default "us-ascii")

  std::optional<std::string> id;           // Content-ID, as written
  std::optional<std::string> description;  // Content-Description, as written
  std::string encoding = "7bit";           // Content-Transfer-Encoding, lower-case
  std::optional<std::string> md5;          // Content-MD5
  std::optional<std::string> disposition;  // Content-Disposition type, lower-case
  Params disposition_params;
  std::vector<std::string> language;    // Content-Language tags
  std::optional<std::string> location;  // Content-Location, as written

  // Multipart: the parts, in order (possibly none, if no boundary line came).
  // message/rfc822: exactly one, the encapsulated message. Otherwise empty.
  std::vector<MessagePart> children;

  // Set for the top-level message and for the child of a message/rfc822 part.
  Envelope envelope;

  bool is_multipart() const { return type == "multipart"; }
  bool is_message_rfc822() const {
    return type == "message" && subtype == "rfc822" && children.size() == 1;
  }
  // The value of parameter `name` (lower-case), if present.
  const std::string* param(std::string_view name) const;

  bool operator==(const MessagePart&) const = default;
};

// Fills the Content-* fields of `part` from its header (first occurrence of each
// field wins) and applies the defaults above. `in_digest`: the part is a child
// of multipart/digest. Does not touch offsets, children or the envelope.
void apply_content_fields(const std::vector<HeaderField>& fields, bool in_digest,
                          MessagePart& part);

// The part named by an IMAP section part number (RFC 3501 section 6.4.5), such
// as "1" or "4.2.1"; "" is the whole message. The parts of a message/rfc822
// part are numbered through its encapsulated message: "2.1" is the first part
// of the message in part 2 if that message is multipart, else that message
// itself. A non-multipart message has exactly one part, "1" (the message
// itself). Returns nullptr for a part that does not exist or a malformed number.
const MessagePart* find_section(const MessagePart& root, std::string_view section);

}  // namespace postern::node::mime
