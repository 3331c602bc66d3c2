#include "backend/mime/envelope.hpp"

namespace postern::node::mime {

namespace {

std::optional<std::string> text_field(const std::vector<HeaderField>& fields,
                                      std::string_view name) {
  if (const HeaderField* f = find_field(fields, name)) return f->value;
  return std::nullopt;
}

std::vector<Address> address_field(const std::vector<HeaderField>& fields, std::string_view name) {
  if (const HeaderField* f = find_field(fields, name)) return parse_address_list(f->value);
  return {};
}

}  // namespace

Envelope build_envelope(const std::vector<HeaderField>& fields) {
  Envelope e;
  e.date = text_field(fields, "Date");
  e.subject = text_field(fields, "Subject");
  e.from = address_field(fields, "From");
  e.sender = address_field(fields, "Sender");
  e.reply_to = address_field(fields, "Reply-To");
  e.to = address_field(fields, "To");
  e.cc = address_field(fields, "Cc");
  e.bcc = address_field(fields, "Bcc");
  e.in_reply_to = text_field(fields, "In-Reply-To");
  e.message_id = text_field(fields, "Message-ID");
  e.references = text_field(fields, "References");
  return e;
}

}  // namespace postern::node::mime
