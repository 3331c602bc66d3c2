#include "backend/mime/message_part.hpp"

#include <charconv>

#include "backend/mime/text.hpp"

namespace postern::node::mime {

namespace {

std::optional<std::string> raw_value(const std::vector<HeaderField>& fields,
                                     std::string_view name) {
  if (const HeaderField* f = find_field(fields, name)) return f->value;
  return std::nullopt;
}

void apply_content_type(const std::vector<HeaderField>& fields, bool in_digest, MessagePart& part) {
  std::optional<ContentType> ct;
  if (const HeaderField* f = find_field(fields, "Content-Type")) ct = parse_content_type(f->value);
  if (ct) {
    part.type = std::move(ct->type);
    part.subtype = std::move(ct->subtype);
    part.params = std::move(ct->params);
  } else if (in_digest) {
    // RFC 2046 section 5.1.5: the default type of a digest's parts.
    part.type = "message";
    part.subtype = "rfc822";
    part.params.clear();
  } else {
    part.type = "text";
    part.subtype = "plain";
    part.params.clear();
  }
  if (part.type == "text" && !part.param("charset")) {
    part.params.emplace_back("charset", "us-ascii");  // RFC 2045 section 5.2
  }
}

}  // namespace

const std::string* MessagePart::param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return &value;
  }
  return nullptr;
}

void apply_content_fields(const std::vector<HeaderField>& fields, bool in_digest,
                          MessagePart& part) {
  apply_content_type(fields, in_digest, part);
  part.encoding = "7bit";
  if (const HeaderField* f = find_field(fields, "Content-Transfer-Encoding")) {
    if (auto token = parse_mime_token(f->value)) part.encoding = std::move(*token);
  }
  part.id = raw_value(fields, "Content-ID");
  part.description = raw_value(fields, "Content-Description");
  part.md5 = raw_value(fields, "Content-MD5");
  part.location = raw_value(fields, "Content-Location");
  part.disposition.reset();
  part.disposition_params.clear();
  if (const HeaderField* f = find_field(fields, "Content-Disposition")) {
    if (auto cd = parse_content_disposition(f->value)) {
      part.disposition = std::move(cd->type);
      part.disposition_params = std::move(cd->params);
    }
  }
  part.language.clear();
  if (const HeaderField* f = find_field(fields, "Content-Language")) {
    part.language = parse_language_list(f->value);
  }
}

const MessagePart* find_section(const MessagePart& root, std::string_view section) {
  if (section.empty()) return &root;
  const MessagePart* current = &root;
  bool first = true;
  while (true) {
    const std::size_t dot = section.find('.');
    const std::string_view number = section.substr(0, dot);
    if (number.empty() || number.front() == '0') return nullptr;
    std::uint32_t n = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
    if (ec != std::errc() || end != number.data() + number.size()) return nullptr;

    // The part whose sub-parts are being numbered: the message itself at the
    // top, the encapsulated message below a message/rfc822 part.
    const MessagePart* container = current;
    if (!first) {
      if (!current->is_message_rfc822()) {
        if (!current->is_multipart()) return nullptr;  // a leaf has no sub-parts
      } else {
        container = &current->children.front();
      }
    }
    if (container->is_multipart()) {
      if (n > container->children.size()) return nullptr;
      current = &container->children[n - 1];
    } else {
      if (n != 1) return nullptr;
      current = container;
    }
    first = false;
    if (dot == std::string_view::npos) return current;
    section.remove_prefix(dot + 1);
  }
}

}  // namespace postern::node::mime
