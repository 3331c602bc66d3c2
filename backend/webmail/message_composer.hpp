// Builds the RFC 5322 message a WebMail user sends or saves as a draft:
// header fields (RFC 2047 encoded words for non-ASCII text, addresses with
// encoded display names), a text/plain UTF-8 body (quoted-printable when it
// needs it, lines kept under 998 octets), and attachments as base64 parts with
// RFC 2231 filenames. CRLF line ends throughout. Pure.
#pragma once

#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/webmail/message_view.hpp"

namespace postern::node::webmail {

struct OutgoingAttachment {
  std::string filename;      // UTF-8
  std::string content_type;  // "type/subtype"; application/octet-stream if unsure
  std::string data;          // raw bytes
};

struct Composition {
  MailAddress from;
  std::vector<MailAddress> to, cc, bcc;  // bcc never appears in the header
  std::string subject;                   // UTF-8
  std::string body;                      // UTF-8 text, any line ends
  std::string in_reply_to, references;   // message ids, with <>
  std::vector<OutgoingAttachment> attachments;
  std::string date;        // RFC 5322 date; "" = now
  std::string message_id;  // with <>; "" = a new one for `domain`
  std::string domain;      // for the Message-ID
  bool draft = false;
};

struct Composed {
  std::string message;                  // the whole message, CRLF
  std::string message_id;               // with <>
  std::vector<std::string> recipients;  // envelope: to + cc + bcc addresses
};

// Parses the comma-separated address list a user typed ("Bob <bob@x>, c@y").
// An error names the entry that is not an address.
tl::expected<std::vector<MailAddress>, std::string> parse_typed_addresses(std::string_view text);

// An error when there is no recipient (unless draft) or a header would carry
// CR/LF from user input.
tl::expected<Composed, std::string> compose_message(const Composition& c);

// "Re: " / "Fwd: " subjects without piling prefixes up; the quoted body
// ("On <date>, <from> wrote:" then "> " lines).
std::string reply_subject(std::string_view subject);
std::string forward_subject(std::string_view subject);
std::string quote_body(const MessageView& original);

}  // namespace postern::node::webmail
