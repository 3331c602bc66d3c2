// IMAP renderings of a parsed message (RFC 3501 section 7.4.2): ENVELOPE,
// BODY and BODYSTRUCTURE.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "backend/mime/envelope.hpp"
#include "backend/mime/message_part.hpp"

namespace postern::node::mime {

// `envelope` = "(" date subject from sender reply-to to cc bcc in-reply-to
// message-id ")". Sender and Reply-To fall back to From when empty, as RFC 3501
// requires. Addresses are (name NIL mailbox host); groups use the RFC 3501
// markers (NIL NIL "group" NIL) ... (NIL NIL NIL NIL).
std::string envelope_to_imap(const Envelope& envelope);

// The body structure of `part` (a whole message, or any part of one): the
// value of FETCH BODYSTRUCTURE when `extensible`, of FETCH BODY otherwise.
//
// Style: type, subtype, encoding, disposition type and parameter names are
// upper-case ("TEXT" "PLAIN" ("CHARSET" "utf-8")), values as parsed. Octet
// counts are the stored (CRLF) sizes. A parameter value with non-ASCII bytes
// (an RFC 2231 value decoded at parse time) is sent in RFC 2231 form,
// NAME*="utf-8''%XX...", so the reply stays 7-bit. A multipart without parts
// is shown as one empty text/plain part, since the grammar needs one.
std::string bodystructure_to_imap(const MessagePart& part, bool extensible);

// An IMAP string for `value`: a quoted string when it is 7-bit text without CR
// or LF, otherwise a literal. NUL bytes, which IMAP forbids, are dropped.
std::string imap_string(std::string_view value);

// imap_string(*value), or NIL.
std::string imap_nstring(const std::optional<std::string>& value);

}  // namespace postern::node::mime
