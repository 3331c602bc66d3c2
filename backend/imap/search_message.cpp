#include "backend/imap/search_message.hpp"

#include <limits>

#include "backend/imap/imap_date.hpp"
#include "backend/imap/search_text.hpp"
#include "backend/mime/charset.hpp"
#include "backend/mime/encoded_words.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

bool is_utf8_compatible(std::string_view charset) {
  return mime::iequals(charset, "utf-8") || mime::iequals(charset, "us-ascii") ||
         mime::iequals(charset, "utf8") || mime::iequals(charset, "ascii");
}

// Whether text in `charset` that is pure ASCII reads the same as UTF-8: true
// of ISO-8859-*, Windows-125x, KOI8 and most others, so converting it can be
// skipped; not of the 7-bit encodings with escapes (UTF-7, ISO-2022-*, HZ) nor
// of UTF-16 / UTF-32 / UCS-*.
bool keeps_ascii(std::string_view charset) {
  for (std::string_view prefix :
       {"utf-7", "utf-16", "utf-32", "ucs", "unicode", "iso-2022", "hz"}) {
    if (charset.size() >= prefix.size() &&
        mime::iequals(charset.substr(0, prefix.size()), prefix)) {
      return false;
    }
  }
  return true;
}

bool ends_with_empty_line(std::string_view header) {
  if (header == "\n" || header == "\r\n") return true;
  return header.ends_with("\n\n") || header.ends_with("\n\r\n");
}

// Writes an address list out as text to search (see envelope_has).
void address_text(const std::vector<mime::Address>& list, std::string& out) {
  out.clear();
  bool first = true;  // of a group, or of the list
  for (const mime::Address& a : list) {
    if (a.is_group_end()) {
      out += ';';
      first = false;
      continue;
    }
    if (!first) out += ", ";
    first = false;
    if (a.is_group_start()) {
      out.append(mime::decode_encoded_words(*a.mailbox));
      out += ':';
      first = true;
      if (&a != &list.back()) out += ' ';
      continue;
    }
    if (a.name && !a.name->empty()) {
      out.append(a.name->find("=?") != std::string::npos ? mime::decode_encoded_words(*a.name)
                                                         : *a.name);
      out += ' ';
    }
    out += '<';
    if (a.mailbox && *a.mailbox != mime::kMissingMailbox) out.append(*a.mailbox);
    if (a.host && *a.host != mime::kMissingDomain) {
      out += '@';
      out.append(*a.host);
    }
    out += '>';
  }
}

}  // namespace

void SearchMessage::start(const store::MessageInfo& message) {
  message_ = message;
  error_.reset();
  header_.reset();
  envelope_ = nullptr;
  header_text_ready_ = false;
  body_text_ready_ = false;
  source_.start(message, body_keys_);
}

bool SearchMessage::failed(const store::StoreError& error) {
  error_ = error;
  return false;
}

std::optional<std::string_view> SearchMessage::header() {
  if (header_ || error_) return header_;
  auto header = source_.header();
  if (!header) {
    failed(header.error());
    return std::nullopt;
  }
  header_ = *header;
  return header_;
}

bool SearchMessage::header_has(std::string_view field, std::string_view needle) {
  auto header = this->header();
  if (!header) return false;
  RawHeaderReader reader(*header);
  RawHeaderField f;
  while (reader.next(f)) {
    if (!mime::iequals(f.name, field)) continue;
    if (needle.empty()) return true;
    decode_header_value(f.value, value_);
    fold_case(value_.data(), value_.size(), unicode_);
    if (contains(value_, needle)) return true;
  }
  return false;
}

const mime::Envelope* SearchMessage::envelope() {
  if (envelope_ || error_) return envelope_;
  auto cached = source_.envelope();
  if (!cached) {
    failed(cached.error());
    return nullptr;
  }
  if (*cached != nullptr) return envelope_ = *cached;
  auto header = this->header();
  if (!header) return nullptr;
  // The parser delivery uses: the same envelope as a cached one would be.
  parsed_envelope_ = mime::parse_message(*header).envelope;
  return envelope_ = &parsed_envelope_;
}

bool SearchMessage::envelope_has(std::string_view field, std::string_view needle) {
  const mime::Envelope* e = envelope();
  if (e == nullptr) return false;
  if (mime::iequals(field, "Subject")) {
    if (!e->subject) return false;
    if (needle.empty()) return true;
    decode_header_value(*e->subject, value_);
  } else {
    const std::vector<mime::Address>* list = mime::iequals(field, "From")  ? &e->from
                                             : mime::iequals(field, "To")  ? &e->to
                                             : mime::iequals(field, "Cc")  ? &e->cc
                                             : mime::iequals(field, "Bcc") ? &e->bcc
                                                                           : nullptr;
    if (list == nullptr || list->empty()) return false;
    if (needle.empty()) return true;
    address_text(*list, value_);
  }
  fold_case(value_.data(), value_.size(), unicode_);
  return contains(value_, needle);
}

std::int64_t SearchMessage::sent_day() {
  const mime::Envelope* e = envelope();
  if (e != nullptr && e->date) {
    decode_header_value(*e->date, value_);
    if (auto seconds = parse_rfc5322_date(value_)) {
      // RFC 3501 compares dates "disregarding time and timezone": the day
      // the sender wrote, as Dovecot reads it.
      return day_of_time(*seconds + std::int64_t{rfc5322_zone_minutes(value_)} * 60);
    }
  }
  return day_of_time(message_.internal_date + std::int64_t{message_.zone_minutes} * 60);
}

bool SearchMessage::body_has(std::string_view needle) {
  if (!build_body_text()) return false;
  return contains(body_text_, needle);
}

bool SearchMessage::text_has(std::string_view needle) {
  build_header_text();
  if (error_) return false;
  if (contains(header_text_, needle)) return true;
  return body_has(needle);
}

void SearchMessage::build_header_text() {
  if (header_text_ready_) return;
  auto header = this->header();
  if (!header) return;
  header_text_.clear();
  append_header_text(*header, header_text_);
  fold_case(header_text_.data(), header_text_.size(), unicode_);
  header_text_ready_ = true;
}

void SearchMessage::append_header_text(std::string_view raw_header, std::string& out) {
  RawHeaderReader reader(raw_header);
  RawHeaderField f;
  while (reader.next(f)) {
    decode_header_value(f.value, value_);
    out.append(f.name);
    out.append(": ");
    out.append(value_);
    out += '\n';
  }
}

bool SearchMessage::build_body_text() {
  if (body_text_ready_) return true;
  auto header = this->header();
  if (!header) return false;
  body_text_.clear();
  if (single_part(*header)) {
    if (!append_part_body(single_)) return false;
  } else {
    auto structure = source_.structure();
    if (!structure) return failed(structure.error());
    if (!collect(**structure)) return false;
  }
  fold_case(body_text_.data(), body_text_.size(), unicode_);
  body_text_ready_ = true;
  return true;
}

// Most mail that is not multipart needs no structure: its Content-Type and
// Content-Transfer-Encoding say all, and the body follows the header. This
// spares parsing the message (or fetching its meta) for it.
bool SearchMessage::single_part(std::string_view header) {
  if (!ends_with_empty_line(header)) return false;  // header cut short: let the parser judge
  content_fields_.clear();
  RawHeaderReader reader(header);
  RawHeaderField f;
  while (reader.next(f)) {
    if (mime::iequals(f.name, "Content-Type") ||
        mime::iequals(f.name, "Content-Transfer-Encoding")) {
      content_fields_.push_back(mime::HeaderField{std::string(f.name), {}});
      unfold_header_value(f.value, content_fields_.back().value);
    }
  }
  mime::apply_content_fields(content_fields_, false, single_);
  if (single_.is_multipart() || single_.type == "message") return false;
  single_.body_offset = header.size();
  single_.end_offset = std::numeric_limits<std::uint64_t>::max();  // clipped to the file
  return true;
}

// What counts as the body: text leaves (any disposition) and the header and
// body of each encapsulated message; not multipart preambles nor binary
// attachments, whose bytes are not text a user would look for.
bool SearchMessage::collect(const mime::MessagePart& part) {
  if (part.is_multipart()) {
    for (const mime::MessagePart& child : part.children) {
      if (!collect(child)) return false;
    }
    return true;
  }
  if (part.is_message_rfc822()) {
    const mime::MessagePart& inner = part.children.front();
    auto header = source_.range(inner.header_offset, inner.body_offset);
    if (!header) return failed(header.error());
    body_text_ += '\0';
    append_header_text(*header, body_text_);
    return collect(inner);
  }
  if (part.type == "text" || part.type == "message") return append_part_body(part);
  return true;
}

bool SearchMessage::append_part_body(const mime::MessagePart& part) {
  auto raw = source_.range(part.body_offset, part.end_offset);
  if (!raw) return failed(raw.error());
  body_text_ += '\0';  // a match never spans two parts (needles hold no NUL)
  const std::string* charset = part.param("charset");
  const bool convert = charset != nullptr && !is_utf8_compatible(*charset);
  std::string& target = convert ? decoded_ : body_text_;
  if (convert) decoded_.clear();
  if (part.encoding == "base64") {
    append_base64(target, *raw);
  } else if (part.encoding == "quoted-printable") {
    append_quoted_printable(target, *raw);
  } else {
    target.append(*raw);  // 7bit, 8bit, binary, or an encoding we cannot undo
  }
  if (!convert) return true;
  if (!keeps_ascii(*charset) || !is_ascii(decoded_)) {
    if (auto utf8 = mime::charset_to_utf8(*charset, decoded_)) {
      body_text_.append(*utf8);
      return true;
    }
  }
  body_text_.append(decoded_);  // ASCII as is, or an unknown charset: the bytes
  return true;
}

}  // namespace postern::node::imap
