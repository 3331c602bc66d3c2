#include "backend/webmail/message_view.hpp"

#include <algorithm>

#include "backend/imap/transfer_decoder.hpp"
#include "backend/mime/address.hpp"
#include "backend/mime/charset.hpp"
#include "backend/mime/encoded_words.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::webmail {

namespace {

bool is_valid_utf8(std::string_view s) {
  std::string check;
  mime::append_valid_utf8(check, s);
  return check == s;
}

// Header text: encoded words decoded; raw 8-bit bytes (against RFC 5322, but
// common) read as UTF-8 when they are, else as Windows-1252.
std::string header_text(std::string_view raw) {
  std::string decoded = mime::decode_encoded_words(raw);
  if (is_valid_utf8(decoded)) return decoded;
  if (auto latin = mime::charset_to_utf8("windows-1252", decoded)) return *latin;
  std::string out;
  mime::append_valid_utf8(out, decoded);
  return out;
}

std::string lf_line_ends(std::string text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out += text[i];
  }
  return out;
}

std::vector<MailAddress> to_mail_addresses(const std::vector<mime::Address>& list) {
  std::vector<MailAddress> out;
  for (const mime::Address& a : list) {
    if (!a.host) continue;  // group markers
    MailAddress m;
    if (a.name) m.name = header_text(*a.name);
    m.address = a.mailbox.value_or("");
    if (*a.host != mime::kMissingDomain) m.address += "@" + *a.host;
    if (!is_valid_utf8(m.address)) m.address = header_text(m.address);
    out.push_back(std::move(m));
  }
  return out;
}

std::string section_number(const std::string& parent, std::size_t index) {
  const std::string n = std::to_string(index + 1);
  return parent.empty() ? n : parent + "." + n;
}

// The file name a part gives itself: Content-Disposition filename, else the
// Content-Type name; RFC 2231 is already undone by the parser, RFC 2047 (as
// Outlook writes it inside quotes) is undone here; any path is stripped.
std::string part_filename(const mime::MessagePart& part) {
  std::string raw;
  for (const auto& [name, value] : part.disposition_params) {
    if (name == "filename") raw = value;
  }
  if (raw.empty()) {
    if (const std::string* n = part.param("name")) raw = *n;
  }
  std::string name = header_text(raw);
  const std::size_t slash = name.find_last_of("/\\");
  if (slash != std::string::npos) name.erase(0, slash + 1);
  std::erase_if(name, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
  const std::string_view trimmed = mime::trim_wsp(name);
  if (trimmed == "." || trimmed == "..") return {};
  return std::string(trimmed);
}

std::string made_up_filename(const mime::MessagePart& part, const std::string& section) {
  if (part.type == "message" && part.subtype == "rfc822") {
    std::string subject =
        part.children.empty() ? "" : header_text(part.children[0].envelope.subject.value_or(""));
    std::erase_if(subject, [](char c) {
      return c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
    });
    subject = std::string(mime::trim_wsp(subject)).substr(0, 100);
    return (subject.empty() ? "message-" + section : subject) + ".eml";
  }
  std::string ext = ".bin";
  if (part.type == "text") ext = part.subtype == "html" ? ".html" : ".txt";
  if (part.type == "image" && part.subtype.size() <= 5) ext = "." + part.subtype;
  if (part.subtype == "pdf") ext = ".pdf";
  return "part-" + section + ext;
}

std::uint64_t decoded_size(const mime::MessagePart& part) {
  const std::uint64_t raw = part.end_offset - part.body_offset;
  if (part.encoding == "base64") {
    const std::uint64_t breaks = 2ULL * part.body_lines;
    return raw > breaks ? (raw - breaks) / 4 * 3 : 0;
  }
  return raw;
}

class ViewBuilder {
 public:
  ViewBuilder(std::string_view message, MessageView& view) : message_(message), view_(view) {}

  void part(const mime::MessagePart& p, const std::string& section, bool in_related) {
    if (p.is_multipart()) {
      multipart(p, section);
      return;
    }
    if (is_body(p)) {
      std::optional<std::string>& slot = p.subtype == "html" ? view_.html : view_.text;
      std::string text = lf_line_ends(decode_part_text(message_, p));
      if (!slot) {
        slot = std::move(text);
      } else if (!in_alternative_) {
        *slot += "\n\n" + text;  // further inline bodies of a multipart/mixed
      } else {
        slot = std::move(text);  // the last alternative is the preferred one
      }
      return;
    }
    attachment(p, section, in_related);
  }

 private:
  static bool is_body(const mime::MessagePart& p) {
    if (p.type != "text" || (p.subtype != "plain" && p.subtype != "html")) return false;
    if (p.disposition == "attachment") return false;
    return part_filename(p).empty();
  }

  void multipart(const mime::MessagePart& p, const std::string& section) {
    const bool related = p.subtype == "related";
    const bool outer = in_alternative_;
    for (std::size_t i = 0; i < p.children.size(); ++i) {
      const std::string child = section_number(section, i);
      // In multipart/related only the root (the first part) holds the body;
      // the rest are the resources it refers to.
      if (related && i > 0) {
        attachment(p.children[i], child, true);
        continue;
      }
      // A body replaces an earlier one only as a later alternative.
      in_alternative_ = p.subtype == "alternative" || (related && outer);
      part(p.children[i], child, related);
    }
    in_alternative_ = outer;
  }

  void attachment(const mime::MessagePart& p, const std::string& section, bool in_related) {
    if (p.is_multipart()) {  // a nested container in a related part: its leaves
      for (std::size_t i = 0; i < p.children.size(); ++i) {
        attachment(p.children[i], section_number(section, i), in_related);
      }
      return;
    }
    AttachmentInfo a;
    a.part = section;
    a.filename = part_filename(p);
    if (a.filename.empty()) a.filename = made_up_filename(p, section);
    a.content_type = p.type + "/" + p.subtype;
    a.size = decoded_size(p);
    if (p.id) {
      std::string_view id = mime::trim_wsp(*p.id);
      if (id.starts_with('<')) id.remove_prefix(1);
      if (id.ends_with('>')) id.remove_suffix(1);
      a.content_id = std::string(id);
    }
    a.is_inline = !a.content_id.empty() &&
                  (p.disposition == "inline" || (in_related && p.disposition != "attachment"));
    view_.attachments.push_back(std::move(a));
  }

  std::string_view message_;
  MessageView& view_;
  bool in_alternative_ = false;
};

}  // namespace

std::vector<MailAddress> decode_addresses(std::string_view header_value) {
  return to_mail_addresses(mime::parse_address_list(header_value));
}

std::string decode_part_body(std::string_view message, const mime::MessagePart& part) {
  const std::uint64_t begin = std::min<std::uint64_t>(part.body_offset, message.size());
  const std::uint64_t end = std::clamp<std::uint64_t>(part.end_offset, begin, message.size());
  const std::string_view body = message.substr(begin, end - begin);
  const auto encoding = imap::transfer_encoding(part.encoding);
  if (!encoding || *encoding == imap::TransferEncoding::Identity) return std::string(body);
  imap::TransferDecoder decoder(*encoding);
  std::string out;
  out.reserve(body.size());
  decoder.feed(body, out);
  decoder.finish(out);
  return out;
}

std::string decode_part_text(std::string_view message, const mime::MessagePart& part) {
  std::string bytes = decode_part_body(message, part);
  if (part.type != "text") return bytes;
  const std::string* charset = part.param("charset");
  const std::string name = charset ? mime::ascii_lower(*charset) : "us-ascii";
  // 8-bit text labelled us-ascii (or not labelled) is usually UTF-8 or Latin-1.
  if (name == "us-ascii" && !is_valid_utf8(bytes)) {
    if (auto latin = mime::charset_to_utf8("windows-1252", bytes)) return *latin;
  }
  if (auto converted = mime::charset_to_utf8(name, bytes)) return *converted;
  std::string out;
  mime::append_valid_utf8(out, bytes);
  return out;
}

MessageView make_message_view(std::string_view message, const mime::MessagePart& root) {
  MessageView view;
  const mime::Envelope& e = root.envelope;
  view.subject = header_text(e.subject.value_or(""));
  view.from = to_mail_addresses(e.from);
  view.to = to_mail_addresses(e.to);
  view.cc = to_mail_addresses(e.cc);
  view.reply_to = to_mail_addresses(e.reply_to);
  view.date = header_text(e.date.value_or(""));
  view.message_id = header_text(e.message_id.value_or(""));
  view.in_reply_to = header_text(e.in_reply_to.value_or(""));
  view.references = header_text(e.references.value_or(""));
  // A message that is not multipart is its own part "1".
  ViewBuilder builder(message, view);
  builder.part(root, root.is_multipart() ? "" : "1", false);
  return view;
}

}  // namespace postern::node::webmail
