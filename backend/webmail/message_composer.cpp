#include "backend/webmail/message_composer.hpp"

#include <sys/random.h>

#include <array>
#include <ctime>
#include <set>

#include <fmt/format.h>

#include "backend/mime/text.hpp"
#include "backend/webmail/html_tokenizer.hpp"
#include "backend/webmail/mail_encoding.hpp"

namespace postern::node::webmail {

namespace {

constexpr std::size_t kMaxLine = 998;

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool has_line_break(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos;
}

// local@domain in printable ASCII, with nothing that would break the header
// or the SMTP envelope.
bool is_plain_address(std::string_view a) {
  if (a.size() > 254) return false;  // RFC 5321 section 4.5.3.1.3
  const std::size_t at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  for (char c : a) {
    if (c <= 0x20 || c >= 0x7F || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' ||
        c == '(' || c == ')' || c == '[' || c == ']' || c == '\\') {
      return false;
    }
  }
  return a.find('@') == at;
}

std::string random_hex(std::size_t bytes) {
  std::array<unsigned char, 32> buffer{};
  bytes = std::min(bytes, buffer.size());
  std::size_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::getrandom(buffer.data() + got, bytes - got, 0);
    if (n <= 0) break;  // getrandom() does not fail once the pool is ready
    got += static_cast<std::size_t>(n);
  }
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", buffer[i]);
  return out;
}

std::string rfc5322_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::array<char, 64> buffer{};
  std::strftime(buffer.data(), buffer.size(), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buffer.data();
}

std::string format_address(const MailAddress& a) {
  const std::string name = encode_display_name(a.name);
  return name.empty() ? a.address : name + " <" + a.address + ">";
}

// "Name: a, b, c" folded between addresses at about 78 columns.
std::string address_field(std::string_view field, const std::vector<MailAddress>& list) {
  std::string out = std::string(field) + ": ";
  std::size_t column = out.size();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string item = format_address(list[i]);
    const std::size_t first_line = std::min(item.find("\r\n"), item.size());
    if (i > 0) {
      out += ',';
      if (column + 2 + first_line > kFoldColumn) {
        out += "\r\n ";
        column = 1;
      } else {
        out += ' ';
        column += 2;
      }
    }
    out += item;
    const std::size_t last_break = item.rfind("\r\n");
    column = last_break == std::string::npos ? column + item.size() : item.size() - last_break - 2;
  }
  return out + "\r\n";
}

// "References: <a> <b>" folded between ids.
std::string id_list_field(std::string_view field, std::string_view ids) {
  std::string out = std::string(field) + ":";
  std::size_t column = out.size();
  std::size_t start = 0;
  while (start < ids.size()) {
    while (start < ids.size() && mime::is_wsp(ids[start])) ++start;
    std::size_t end = start;
    while (end < ids.size() && !mime::is_wsp(ids[end])) ++end;
    if (end == start) break;
    const std::string_view id = ids.substr(start, end - start);
    start = end;
    if (id.size() > 900) continue;  // could not be folded under 998 octets
    if (column + 1 + id.size() > kFoldColumn && column > field.size() + 1) {
      out += "\r\n";
      column = 0;
    }
    out += ' ';
    out += id;
    column += 1 + id.size();
  }
  return out + "\r\n";
}

tl::expected<void, std::string> check_header_input(const Composition& c) {
  auto check = [](std::string_view what,
                  std::string_view value) -> tl::expected<void, std::string> {
    if (has_line_break(value)) return tl::unexpected(fmt::format("{} contains a line break", what));
    return {};
  };
  auto check_list = [&](std::string_view what,
                        const std::vector<MailAddress>& list) -> tl::expected<void, std::string> {
    for (const MailAddress& a : list) {
      if (auto ok = check(what, a.name); !ok) return ok;
      if (!is_plain_address(a.address)) {
        return tl::unexpected(fmt::format("{}: not an address: {}", what, a.address));
      }
    }
    return {};
  };
  for (auto result :
       {check_list("from", {c.from}), check_list("to", c.to), check_list("cc", c.cc),
        check_list("bcc", c.bcc), check("subject", c.subject), check("in_reply_to", c.in_reply_to),
        check("references", c.references), check("date", c.date), check("message_id", c.message_id),
        check("domain", c.domain)}) {
    if (!result) return result;
  }
  for (const OutgoingAttachment& a : c.attachments) {
    if (auto ok = check("attachment filename", a.filename); !ok) return ok;
    if (auto ok = check("attachment content type", a.content_type); !ok) return ok;
  }
  return {};
}

// "type/subtype" of token characters, lower-cased; else application/octet-stream.
std::string safe_content_type(std::string_view type) {
  type = mime::trim_wsp(type.substr(0, type.find(';')));
  const std::size_t slash = type.find('/');
  bool ok =
      slash != std::string_view::npos && slash > 0 && slash + 1 < type.size() && type.size() <= 200;
  for (std::size_t i = 0; ok && i < type.size(); ++i) {
    ok = i == slash || mime::is_mime_token_char(type[i]);
  }
  return ok ? mime::ascii_lower(type) : "application/octet-stream";
}

// The text part's header fields and body: 7bit when it is short-lined ASCII.
std::string text_part(std::string_view body) {
  std::string text = crlf_line_ends(body);
  if (!text.empty() && !text.ends_with("\r\n")) text += "\r\n";
  bool seven_bit = is_ascii(text);
  std::size_t line = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '\n') {
      line = 0;
      continue;
    }
    if (++line > kMaxLine || c == 0 || (c < 0x20 && ch != '\t' && ch != '\r')) seven_bit = false;
  }
  std::string out = "Content-Type: text/plain; charset=utf-8\r\n";
  if (seven_bit) {
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    out += text;
  } else {
    out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    out += encode_quoted_printable(text);
  }
  return out;
}

std::string attachment_part(const OutgoingAttachment& a) {
  const std::string filename = a.filename.empty() ? "attachment" : a.filename;
  std::string out = "Content-Type: " + safe_content_type(a.content_type);
  out += encode_parameter("name", filename);
  out += "\r\nContent-Disposition: attachment";
  out += encode_parameter("filename", filename);
  out += "\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  out += encode_base64_lines(a.data);
  return out;
}

std::string strip_prefixes(std::string_view subject, bool reply) {
  while (true) {
    subject = mime::trim_wsp(subject);
    const std::size_t colon = subject.find(':');
    if (colon == std::string_view::npos || colon > 8) return std::string(subject);
    std::string word = mime::ascii_lower(mime::trim_wsp(subject.substr(0, colon)));
    // "Re[2]" and "Re(2)" counters some mailers add.
    if (const std::size_t b = word.find_first_of("[("); b != std::string::npos) word.resize(b);
    const bool is_reply = word == "re" || word == "aw" || word == "sv" || word == "antw";
    const bool is_forward = word == "fwd" || word == "fw" || word == "wg" || word == "tr";
    if (!(reply ? is_reply : is_forward)) return std::string(subject);
    subject.remove_prefix(colon + 1);
  }
}

// Plain text of an HTML body, for quoting an HTML-only message.
std::string html_to_text(std::string_view html) {
  HtmlTokenizer tokenizer(html);
  HtmlToken token;
  std::string out;
  while (tokenizer.next(token)) {
    if (token.kind == HtmlToken::Kind::Text) {
      if (token.raw) continue;  // script, style, title
      for (char c : token.text) {
        const bool blank = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        if (blank && (out.empty() || out.back() == ' ' || out.back() == '\n')) continue;
        out += blank ? ' ' : c;
      }
    } else if (token.name == "br" || token.name == "p" || token.name == "div" ||
               token.name == "tr" || token.name == "li" || token.name.starts_with('h')) {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      // A line break for <br>; a block only ends the line it is on.
      if (!out.empty() && (token.name == "br" || out.back() != '\n')) out += '\n';
    }
  }
  return out;
}

}  // namespace

tl::expected<std::vector<MailAddress>, std::string> parse_typed_addresses(std::string_view text) {
  std::vector<MailAddress> out;
  std::vector<std::string_view> entries;
  std::size_t start = 0;
  bool quoted = false;
  bool angle = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ',';
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        ++i;
      } else if (c == '"' || i == text.size()) {
        quoted = false;
      }
      if (i < text.size()) continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      angle = true;
    } else if (c == '>') {
      angle = false;
    } else if ((c == ',' || c == ';') && (!angle || i == text.size())) {
      entries.push_back(text.substr(start, i - start));
      start = i + 1;
      angle = false;
    }
  }
  for (std::string_view entry : entries) {
    while (!entry.empty() && is_blank(entry.front())) entry.remove_prefix(1);
    while (!entry.empty() && is_blank(entry.back())) entry.remove_suffix(1);
    if (entry.empty()) continue;
    MailAddress a;
    const std::size_t lt = entry.rfind('<');
    if (lt != std::string_view::npos && entry.back() == '>') {
      a.address = std::string(mime::trim_wsp(entry.substr(lt + 1, entry.size() - lt - 2)));
      std::string_view name = mime::trim_wsp(entry.substr(0, lt));
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
        name = name.substr(1, name.size() - 2);
        for (std::size_t i = 0; i < name.size(); ++i) {
          if (name[i] == '\\' && i + 1 < name.size()) ++i;
          a.name += name[i];
        }
      } else {
        a.name = std::string(name);
      }
    } else {
      a.address = std::string(entry);
    }
    if (!is_plain_address(a.address) || has_line_break(a.name)) {
      return tl::unexpected(fmt::format("not an address: {}", entry));
    }
    out.push_back(std::move(a));
  }
  return out;
}

tl::expected<Composed, std::string> compose_message(const Composition& c) {
  if (auto ok = check_header_input(c); !ok) return tl::unexpected(ok.error());
  Composed result;
  std::set<std::string> seen;  // lower-cased: a long Bcc list stays linear-ish
  for (const auto* list : {&c.to, &c.cc, &c.bcc}) {
    for (const MailAddress& a : *list) {
      if (seen.insert(mime::ascii_lower(a.address)).second) result.recipients.push_back(a.address);
    }
  }
  if (result.recipients.empty() && !c.draft) return tl::unexpected(std::string("no recipient"));

  std::string domain = c.domain;
  if (domain.empty()) domain = c.from.address.substr(c.from.address.rfind('@') + 1);
  result.message_id =
      c.message_id.empty() ? fmt::format("<{}@{}>", random_hex(16), domain) : c.message_id;

  std::string& m = result.message;
  m += "Date: " + (c.date.empty() ? rfc5322_now() : c.date) + "\r\n";
  m += address_field("From", {c.from});
  if (!c.to.empty()) m += address_field("To", c.to);
  if (!c.cc.empty()) m += address_field("Cc", c.cc);
  const std::string_view subject = mime::trim_wsp(c.subject);
  m += "Subject: " + encode_unstructured(subject, 9) + "\r\n";
  m += "Message-ID: " + result.message_id + "\r\n";
  if (!mime::trim_wsp(c.in_reply_to).empty()) m += id_list_field("In-Reply-To", c.in_reply_to);
  if (!mime::trim_wsp(c.references).empty()) m += id_list_field("References", c.references);
  m += "MIME-Version: 1.0\r\n";
  if (c.attachments.empty()) {
    m += text_part(c.body);
    return result;
  }
  // '=' and '_' appear in neither base64 nor quoted-printable output lines
  // that could start with "--", so the boundary cannot occur in a part.
  const std::string boundary = "=_postern_" + random_hex(12);
  m += "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\r\n\r\n";
  m += "This is a multi-part message in MIME format.\r\n";
  m += "--" + boundary + "\r\n" + text_part(c.body);
  for (const OutgoingAttachment& a : c.attachments) {
    m += "\r\n--" + boundary + "\r\n" + attachment_part(a);
  }
  m += "\r\n--" + boundary + "--\r\n";
  return result;
}

std::string reply_subject(std::string_view subject) {
  return "Re: " + strip_prefixes(subject, true);
}

std::string forward_subject(std::string_view subject) {
  return "Fwd: " + strip_prefixes(subject, false);
}

std::string quote_body(const MessageView& original) {
  std::string who;
  if (!original.from.empty()) {
    const MailAddress& f = original.from.front();
    who = f.name.empty() ? f.address : f.name + " <" + f.address + ">";
  }
  std::string out = original.date.empty() ? who + " wrote:\n"
                                          : fmt::format("On {}, {} wrote:\n", original.date, who);
  const std::string text =
      original.text ? *original.text : (original.html ? html_to_text(*original.html) : "");
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    out += line.empty() || line.starts_with('>') ? ">" : "> ";
    out += line;
    out += '\n';
    start = end + 1;
  }
  return out;
}

}  // namespace postern::node::webmail
