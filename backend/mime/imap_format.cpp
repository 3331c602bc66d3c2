#include "backend/mime/imap_format.hpp"

#include "backend/mime/content_params.hpp"

#include "backend/mime/text.hpp"

namespace postern::node::mime {

namespace {

void append_address_list(std::string& out, const std::vector<Address>& list) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  for (const Address& a : list) {
    out += '(';
    out += imap_nstring(a.name);
    out += " NIL ";  // the source route is obsolete and never kept
    out += imap_nstring(a.mailbox);
    out += ' ';
    out += imap_nstring(a.host);
    out += ')';
  }
  out += ')';
}

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// RFC 2231 attribute-char: what may stay unescaped in an extended value: a
// MIME token character other than '*', '\'' and '%'.
bool is_attribute_char(char c) {
  return is_mime_token_char(c) && c != '*' && c != '\'' && c != '%';
}

void append_params(std::string& out, const Params& params) {
  if (params.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  bool first = true;
  for (const auto& [name, value] : params) {
    if (!first) out += ' ';
    first = false;
    if (is_ascii(value)) {
      out += imap_string(ascii_upper(name));
      out += ' ';
      out += imap_string(value);
      continue;
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string encoded = "utf-8''";
    for (char c : value) {
      if (is_attribute_char(c)) {
        encoded += c;
      } else {
        const auto u = static_cast<unsigned char>(c);
        encoded += '%';
        encoded += kHex[u >> 4];
        encoded += kHex[u & 0xF];
      }
    }
    out += imap_string(ascii_upper(name) + "*");
    out += ' ';
    out += imap_string(encoded);
  }
  out += ')';
}

// body-fld-dsp SP body-fld-lang SP body-fld-loc: the extension data both kinds
// of body share.
void append_common_extensions(std::string& out, const MessagePart& part) {
  out += ' ';
  if (part.disposition) {
    out += '(';
    out += imap_string(ascii_upper(*part.disposition));
    out += ' ';
    append_params(out, part.disposition_params);
    out += ')';
  } else {
    out += "NIL";
  }
  out += ' ';
  if (part.language.empty()) {
    out += "NIL";
  } else {
    out += '(';
    for (std::size_t i = 0; i < part.language.size(); ++i) {
      if (i > 0) out += ' ';
      out += imap_string(part.language[i]);
    }
    out += ')';
  }
  out += ' ';
  out += imap_nstring(part.location);
}

std::uint64_t body_octets(const MessagePart& part) {
  return part.end_offset > part.body_offset ? part.end_offset - part.body_offset : 0;
}

void append_body(std::string& out, const MessagePart& part, bool ext, unsigned depth);

void append_empty_text(std::string& out, bool ext) {
  out += R"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0)";
  if (ext) out += " NIL NIL NIL NIL";
  out += ')';
}

void append_multipart(std::string& out, const MessagePart& part, bool ext, unsigned depth) {
  out += '(';
  if (part.children.empty()) append_empty_text(out, ext);
  for (const MessagePart& child : part.children) append_body(out, child, ext, depth + 1);
  out += ' ';
  out += imap_string(ascii_upper(part.subtype));
  if (ext) {
    out += ' ';
    append_params(out, part.params);
    append_common_extensions(out, part);
  }
  out += ')';
}

void append_single(std::string& out, const MessagePart& part, bool ext, unsigned depth) {
  out += '(';
  out += imap_string(ascii_upper(part.type));
  out += ' ';
  out += imap_string(ascii_upper(part.subtype));
  out += ' ';
  append_params(out, part.params);
  out += ' ';
  out += imap_nstring(part.id);
  out += ' ';
  out += imap_nstring(part.description);
  out += ' ';
  out += imap_string(ascii_upper(part.encoding));
  out += ' ';
  out += std::to_string(body_octets(part));
  if (part.is_message_rfc822()) {
    const MessagePart& message = part.children.front();
    out += ' ';
    out += envelope_to_imap(message.envelope);
    out += ' ';
    append_body(out, message, ext, depth + 1);
    out += ' ';
    out += std::to_string(part.body_lines);
  } else if (part.type == "text") {
    out += ' ';
    out += std::to_string(part.body_lines);
  }
  if (ext) {
    out += ' ';
    out += imap_nstring(part.md5);
    append_common_extensions(out, part);
  }
  out += ')';
}

// Structures come from the parser (depth-limited) or from deserialize()
// (depth-checked); the guard keeps a hand-built one from exhausting the stack.
constexpr unsigned kMaxFormatDepth = 1000;

void append_body(std::string& out, const MessagePart& part, bool ext, unsigned depth) {
  if (depth > kMaxFormatDepth) {
    append_empty_text(out, ext);
  } else if (part.is_multipart()) {
    append_multipart(out, part, ext, depth);
  } else {
    append_single(out, part, ext, depth);
  }
}

}  // namespace

std::string imap_string(std::string_view value) {
  bool quotable = true;
  std::size_t nuls = 0;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0) {
      ++nuls;
    } else if (u >= 0x80 || c == '\r' || c == '\n') {
      quotable = false;
    }
  }
  std::string out;
  if (quotable) {
    out.reserve(value.size() + 2);
    out += '"';
    for (char c : value) {
      if (c == '\0') continue;
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
    return out;
  }
  out = "{" + std::to_string(value.size() - nuls) + "}\r\n";
  for (char c : value) {
    if (c != '\0') out += c;
  }
  return out;
}

std::string imap_nstring(const std::optional<std::string>& value) {
  return value ? imap_string(*value) : std::string("NIL");
}

std::string envelope_to_imap(const Envelope& e) {
  std::string out = "(";
  out += imap_nstring(e.date);
  out += ' ';
  out += imap_nstring(e.subject);
  out += ' ';
  append_address_list(out, e.from);
  out += ' ';
  append_address_list(out, e.sender.empty() ? e.from : e.sender);
  out += ' ';
  append_address_list(out, e.reply_to.empty() ? e.from : e.reply_to);
  out += ' ';
  append_address_list(out, e.to);
  out += ' ';
  append_address_list(out, e.cc);
  out += ' ';
  append_address_list(out, e.bcc);
  out += ' ';
  out += imap_nstring(e.in_reply_to);
  out += ' ';
  out += imap_nstring(e.message_id);
  out += ')';
  return out;
}

std::string bodystructure_to_imap(const MessagePart& part, bool extensible) {
  std::string out;
  append_body(out, part, extensible, 0);
  return out;
}

}  // namespace postern::node::mime
