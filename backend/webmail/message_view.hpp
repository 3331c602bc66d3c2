// What the WebMail reader shows of one stored message, from its bytes and its
// MIME structure (backend/mime): the header fields decoded to UTF-8, the text
// body, the HTML body (still unsanitised: html_sanitizer.hpp is applied when it
// is served), and the attachments. Pure: the caller reads the file (on the
// node's worker pool) and passes its bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/mime/message_part.hpp"

namespace postern::node::webmail {

struct MailAddress {
  std::string name;     // display name, RFC 2047 decoded to UTF-8; may be ""
  std::string address;  // local@domain
};

struct AttachmentInfo {
  std::string part;          // IMAP section number ("2", "1.3")
  std::string filename;      // RFC 2231 / RFC 2047 decoded; a made-up name if none
  std::string content_type;  // "type/subtype", lower-case
  std::uint64_t size = 0;    // decoded size (estimated from base64 length)
  bool is_inline = false;    // has a Content-ID and is inline: Content-Disposition inline,
                             // or no disposition inside multipart/related
  std::string content_id;    // without <>; "" if none
};

struct MessageView {
  std::string subject;
  std::vector<MailAddress> from, to, cc, reply_to;
  std::string date;  // the Date field as written
  std::string message_id, in_reply_to, references;
  std::optional<std::string> text;  // text/plain body, transfer- and charset-decoded
  std::optional<std::string> html;  // text/html body, decoded, NOT sanitised
  std::vector<AttachmentInfo> attachments;
};

// Builds the view. `message`: the whole message file; `root`: its structure.
// The body chosen from multipart/alternative is the last text/plain and the
// last text/html alternative; parts that are neither shown bodies nor
// multipart containers are attachments.
MessageView make_message_view(std::string_view message, const mime::MessagePart& root);

// Parses an address-list header value into decoded addresses.
std::vector<MailAddress> decode_addresses(std::string_view header_value);

// The body of `part` with its Content-Transfer-Encoding (base64,
// quoted-printable) undone; other encodings as is.
std::string decode_part_body(std::string_view message, const mime::MessagePart& part);
// decode_part_body() then, for text/*, the charset converted to UTF-8.
std::string decode_part_text(std::string_view message, const mime::MessagePart& part);

}  // namespace postern::node::webmail
