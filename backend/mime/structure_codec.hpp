// A compact, stable encoding of a parsed message structure, for the store to
// keep in its index next to the message (DESIGN.md section 6), so IMAP never
// parses a message twice.
//
// Format (version 1), all integers unsigned LEB128 varints:
//   blob     = "PM" %x01 part
//   part     = header_offset body_offset end_offset body_lines
//              str(type) str(subtype) params opt(id) opt(description)
//              str(encoding) opt(md5) opt(disposition) params(disposition)
//              count *str(language) opt(location)
//              (%x00 / %x01 envelope) count *part(children)
//   envelope = opt(date) opt(subject) 6*addresses(from sender reply-to to cc bcc)
//              opt(in-reply-to) opt(message-id) opt(references)
//   addresses= count *(opt(name) opt(mailbox) opt(host))
//   params   = count *(str str)
//   opt(x)   = %x00 / %x01 str
//   str      = length *byte
// Strings are raw bytes (header text need not be UTF-8), so the round trip is
// exact. A new field means a new version byte; deserialize() refuses versions
// it does not know.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "backend/mime/message_part.hpp"

namespace postern::node::mime {

std::string serialize(const MessagePart& root);

// nullopt when `blob` is not a complete, well-formed version-1 encoding (or
// nests parts deeper than a parser could have produced). Never throws.
std::optional<MessagePart> deserialize(std::string_view blob);

}  // namespace postern::node::mime
