// The searchable text of one message at a time, derived lazily from a
// ContentSource for SEARCH's content keys (RFC 3501 section 6.4.4) and cached
// until the next message: header field values decoded from RFC 2047 encoded
// words, the whole header for TEXT, and the text body parts decoded from their
// transfer encoding and charset to UTF-8. Everything is case-folded, and the
// buffers keep their capacity from message to message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/imap/search_content.hpp"
#include "backend/mime/envelope.hpp"
#include "backend/mime/header.hpp"
#include "backend/mime/message_part.hpp"
#include "backend/store/store_error.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::imap {

class SearchMessage {
 public:
  // `unicode`: fold non-ASCII letters too (see fold_case); needles must be
  // folded the same way. `source` must outlive this object.
  // `body_keys`: the search has BODY or TEXT keys (a hint for the source).
  SearchMessage(ContentSource& source, bool unicode, bool body_keys)
      : source_(source), unicode_(unicode), body_keys_(body_keys) {}

  void start(const store::MessageInfo& message);

  // Once the source failed for the current message, the queries below return
  // false (or the internal date) without reading, and error() says why
  // (NoSuchMessage: it went away).
  std::optional<store::StoreError> error() const { return error_; }

  // A `field` header (case-insensitive name; any occurrence) whose decoded
  // value contains `needle`; an empty needle asks whether the field exists.
  bool header_has(std::string_view field, std::string_view needle);
  // SUBJECT FROM TO CC BCC (`field` names the envelope field): the first such
  // field, as the envelope holds it, contains `needle`. Subject: its value
  // with encoded words decoded. An address list: its addresses written out as
  // `name <mailbox@host>` (the name decoded; groups as `group: ...;`, joined
  // by ", "), so that a display name, an address or both together match, as
  // Dovecot normalises them; comments other than a name and quoting do not
  // count. An empty needle asks whether the subject exists, or the list holds
  // an address. Answered from the source's cached envelope when it has one,
  // else from the header.
  bool envelope_has(std::string_view field, std::string_view needle);
  // The calendar day of the (first) Date: header in its own zone, or of the
  // internal date when there is no parseable Date: (as Dovecot does).
  std::int64_t sent_day();
  // The body: the text parts, and the headers of encapsulated messages.
  bool body_has(std::string_view needle);
  // The header or the body.
  bool text_has(std::string_view needle);

 private:
  std::optional<std::string_view> header();
  const mime::Envelope* envelope();
  bool failed(const store::StoreError& error);
  void build_header_text();
  bool build_body_text();
  bool single_part(std::string_view header);
  bool collect(const mime::MessagePart& part);
  bool append_part_body(const mime::MessagePart& part);
  void append_header_text(std::string_view raw_header, std::string& out);

  ContentSource& source_;
  const bool unicode_;
  const bool body_keys_;
  store::MessageInfo message_;
  std::optional<store::StoreError> error_;
  std::optional<std::string_view> header_;
  const mime::Envelope* envelope_ = nullptr;  // the source's, or parsed_envelope_
  mime::Envelope parsed_envelope_;            // built from header() when not cached
  bool header_text_ready_ = false;
  bool body_text_ready_ = false;
  std::string header_text_;                        // "name: value\n" per field, folded
  std::string body_text_;                          // the parts' texts, folded, separated by NUL
  std::string value_;                              // one decoded field value
  std::vector<mime::HeaderField> content_fields_;  // single_part(): the Content-* fields
  mime::MessagePart single_;                       // single_part(): the one text part
  std::string decoded_;  // a part's body in another charset, before conversion
};

}  // namespace postern::node::imap
