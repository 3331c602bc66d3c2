// What a message's header says about the message: the fields of IMAP's
// ENVELOPE (RFC 3501 section 7.4.2) plus References, for threading and WebMail.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backend/mime/address.hpp"
#include "backend/mime/header.hpp"

namespace postern::node::mime {

// Values are the unfolded header values as written (encoded words kept; decode
// with decode_encoded_words for display or SEARCH). nullopt: no such field.
// Address lists are empty when the field is absent or holds no address.
struct Envelope {
  std::optional<std::string> date;
  std::optional<std::string> subject;
  std::vector<Address> from;
  std::vector<Address> sender;
  std::vector<Address> reply_to;
  std::vector<Address> to;
  std::vector<Address> cc;
  std::vector<Address> bcc;
  std::optional<std::string> in_reply_to;
  std::optional<std::string> message_id;
  std::optional<std::string> references;

  bool operator==(const Envelope&) const = default;
};

// Builds the envelope from a message's header fields. When a field occurs more
// than once, the first occurrence counts.
Envelope build_envelope(const std::vector<HeaderField>& fields);

}  // namespace postern::node::mime
