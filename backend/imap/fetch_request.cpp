#include "backend/imap/fetch_request.hpp"

#include <charconv>
#include <string_view>

#include "backend/mime/text.hpp"
#include "core/imap_string.hpp"

namespace postern::node::imap {

namespace {

using core::imap::Token;
using Kind = FetchItem::Kind;

template <class T>
tl::unexpected<std::string> bad(T&& message) {
  return tl::unexpected(std::string(std::forward<T>(message)));
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A decimal number of at most `max_digits` at the front of `s` (consumed).
bool take_number(std::string_view& s, std::uint64_t& value, std::size_t max_digits) {
  std::size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  if (n == 0 || n > max_digits) return false;
  std::from_chars(s.data(), s.data() + n, value);
  s.remove_prefix(n);
  return true;
}

// section-part = nz-number *("." nz-number); stops before a "." that is not
// followed by a digit (the section-text then follows).
bool take_part(std::string_view& s, std::string& part) {
  while (!s.empty() && is_digit(s.front())) {
    if (s.front() == '0') return false;
    std::uint64_t n = 0;
    if (!take_number(s, n, 10) || n > 0xffffffffu) return false;
    if (!part.empty()) part += '.';
    part += std::to_string(n);
    if (s.empty()) break;
    if (s.front() != '.') return false;
    if (s.size() < 2) return false;
    if (!is_digit(s[1])) break;  // the '.' before section-text stays
    s.remove_prefix(1);
  }
  return true;
}

// An RFC 5322 field name: printable US-ASCII except ':'.
bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == ':') return false;
  }
  return true;
}

// " (" astring *(SP astring) ")" up to the end of `s`. Quoted names keep
// their escapes' meaning; literals cannot occur inside a section.
tl::expected<std::vector<std::string>, std::string> parse_header_list(std::string_view s) {
  if (s.size() < 2 || s[0] != ' ' || s[1] != '(') return bad("Expected a header list");
  s.remove_prefix(2);
  std::vector<std::string> fields;
  while (true) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) return bad("Unterminated header list");
    if (s.front() == ')') {
      s.remove_prefix(1);
      break;
    }
    std::string name;
    if (s.front() == '"') {
      std::size_t i = 1;
      for (; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        name += s[i];
      }
      if (i >= s.size()) return bad("Unterminated quoted string in header list");
      s.remove_prefix(i + 1);
    } else {
      std::size_t i = 0;
      while (i < s.size() && s[i] != ' ' && s[i] != ')' && s[i] != '(' && s[i] != '"') ++i;
      name = s.substr(0, i);
      s.remove_prefix(i);
    }
    if (!valid_field_name(name)) return bad("Invalid header field name");
    std::string upper = mime::ascii_upper(name);
    bool seen = false;
    for (const std::string& f : fields) seen = seen || f == upper;
    if (!seen) fields.push_back(std::move(upper));
  }
  if (!s.empty()) return bad("Garbage after header list");
  if (fields.empty()) return bad("Empty header list");
  return fields;
}

tl::expected<Section, std::string> parse_section(std::string_view s, bool binary) {
  Section section;
  if (!take_part(s, section.part)) return bad("Invalid section part number");
  if (binary) {
    if (!s.empty()) return bad("BINARY takes only a part number");
    return section;
  }
  if (!section.part.empty()) {
    if (s.empty()) return section;
    s.remove_prefix(1);  // the '.' take_part left
  }
  const std::size_t word_end = s.find(' ');
  const std::string word = mime::ascii_upper(s.substr(0, word_end));
  const std::string_view rest = word_end == std::string_view::npos ? "" : s.substr(word_end);
  if (word.empty() && section.part.empty() && rest.empty()) return section;
  if (word == "HEADER.FIELDS" || word == "HEADER.FIELDS.NOT") {
    auto fields = parse_header_list(rest);
    if (!fields) return tl::unexpected(fields.error());
    section.kind =
        word == "HEADER.FIELDS" ? Section::Kind::HeaderFields : Section::Kind::HeaderFieldsNot;
    section.fields = std::move(*fields);
    return section;
  }
  if (!rest.empty()) return bad("Invalid section");
  if (word == "HEADER") {
    section.kind = Section::Kind::Header;
  } else if (word == "TEXT") {
    section.kind = Section::Kind::Text;
  } else if (word == "MIME" && !section.part.empty()) {
    section.kind = Section::Kind::Mime;
  } else {
    return bad("Invalid section");
  }
  return section;
}

// "<offset.length>"
tl::expected<std::pair<std::uint64_t, std::uint64_t>, std::string> parse_partial(
    std::string_view s) {
  std::uint64_t offset = 0, length = 0;
  if (s.size() < 2 || s.front() != '<' || s.back() != '>') return bad("Invalid partial");
  s = s.substr(1, s.size() - 2);
  if (!take_number(s, offset, 18) || s.empty() || s.front() != '.') return bad("Invalid partial");
  s.remove_prefix(1);
  if (!take_number(s, length, 18) || !s.empty() || length == 0) return bad("Invalid partial");
  return std::pair{offset, length};
}

// The ']' closing the section that starts at `open`, skipping quoted strings.
std::size_t section_end(std::string_view text, std::size_t open) {
  bool quoted = false;
  for (std::size_t i = open + 1; i < text.size(); ++i) {
    if (quoted) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        quoted = false;
      }
    } else if (text[i] == '"') {
      quoted = true;
    } else if (text[i] == ']') {
      return i;
    }
  }
  return std::string_view::npos;
}

FetchItem simple(Kind kind, std::string_view name) {
  FetchItem item;
  item.kind = kind;
  item.name = name;
  return item;
}

tl::expected<FetchItem, std::string> parse_item(std::string_view text) {
  const std::size_t open = text.find('[');
  if (open == std::string_view::npos) {
    struct Simple {
      std::string_view name;
      Kind kind;
    };
    static constexpr Simple kSimple[] = {
        {"UID", Kind::Uid},
        {"FLAGS", Kind::Flags},
        {"INTERNALDATE", Kind::InternalDate},
        {"RFC822.SIZE", Kind::Rfc822Size},
        {"ENVELOPE", Kind::Envelope},
        {"BODY", Kind::Body},
        {"BODYSTRUCTURE", Kind::BodyStructure},
        {"RFC822", Kind::Rfc822},
        {"RFC822.HEADER", Kind::Rfc822Header},
        {"RFC822.TEXT", Kind::Rfc822Text},
        {"MODSEQ", Kind::ModSeq},
    };
    for (const Simple& s : kSimple) {
      if (mime::iequals(text, s.name)) return simple(s.kind, s.name);
    }
    return bad("Unknown FETCH item");
  }
  const std::string base = mime::ascii_upper(text.substr(0, open));
  FetchItem item;
  std::string_view echo;
  if (base == "BODY" || base == "BODY.PEEK") {
    item.kind = Kind::BodySection;
    echo = "BODY";
  } else if (base == "BINARY" || base == "BINARY.PEEK") {
    item.kind = Kind::Binary;
    echo = "BINARY";
  } else if (base == "BINARY.SIZE") {
    item.kind = Kind::BinarySize;
    echo = "BINARY.SIZE";
  } else {
    return bad("Unknown FETCH item");
  }
  item.peek = base.ends_with(".PEEK");
  const std::size_t close = section_end(text, open);
  if (close == std::string_view::npos) return bad("Unterminated section");
  auto section =
      parse_section(text.substr(open + 1, close - open - 1), item.kind != Kind::BodySection);
  if (!section) return tl::unexpected(section.error());
  item.section = std::move(*section);
  const std::string_view after = text.substr(close + 1);
  if (!after.empty()) {
    if (item.kind == Kind::BinarySize) return bad("BINARY.SIZE takes no partial");
    auto partial = parse_partial(after);
    if (!partial) return tl::unexpected(partial.error());
    item.partial = *partial;
  }
  item.name = std::string(echo) + "[" + section_text(item.section) + "]";
  if (item.partial) item.name += "<" + std::to_string(item.partial->first) + ">";
  return item;
}

void add_item(FetchRequest& request, FetchItem item) {
  for (FetchItem& existing : request.items) {
    if (existing.name == item.name && existing.partial == item.partial) {
      existing.peek = existing.peek && item.peek;
      return;
    }
  }
  request.items.push_back(std::move(item));
}

bool has(const FetchRequest& request, Kind kind) {
  for (const FetchItem& item : request.items) {
    if (item.kind == kind) return true;
  }
  return false;
}

tl::expected<void, std::string> parse_modifiers(const Token& list, FetchRequest& request) {
  if (list.kind != Token::Kind::List || list.children.empty())
    return bad("Invalid FETCH modifiers");
  const std::vector<Token>& c = list.children;
  for (std::size_t i = 0; i < c.size(); i += 2) {
    if (c[i].kind != Token::Kind::Atom || !mime::iequals(c[i].text, "CHANGEDSINCE")) {
      return bad("Unknown FETCH modifier");
    }
    if (request.changed_since) return bad("CHANGEDSINCE given twice");
    std::string_view value = i + 1 < c.size() && c[i + 1].kind == Token::Kind::Atom
                                 ? std::string_view(c[i + 1].text)
                                 : std::string_view();
    std::uint64_t modseq = 0;
    // mod-sequence-value: at most 2^63-1.
    if (!take_number(value, modseq, 19) || !value.empty() || modseq > 0x7fffffffffffffffu) {
      return bad("Invalid CHANGEDSINCE value");
    }
    request.changed_since = modseq;
  }
  return {};
}

}  // namespace

std::string section_text(const Section& section) {
  std::string out = section.part;
  auto add = [&](std::string_view word) {
    if (!out.empty()) out += '.';
    out += word;
  };
  switch (section.kind) {
    case Section::Kind::All:
      break;
    case Section::Kind::Header:
      add("HEADER");
      break;
    case Section::Kind::HeaderFields:
    case Section::Kind::HeaderFieldsNot:
      add(section.kind == Section::Kind::HeaderFields ? "HEADER.FIELDS" : "HEADER.FIELDS.NOT");
      out += " (";
      for (std::size_t i = 0; i < section.fields.size(); ++i) {
        if (i > 0) out += ' ';
        out += core::imap::imap_astring(section.fields[i]);
      }
      out += ')';
      break;
    case Section::Kind::Text:
      add("TEXT");
      break;
    case Section::Kind::Mime:
      add("MIME");
      break;
  }
  return out;
}

bool FetchRequest::needs_structure() const {
  for (const FetchItem& item : items) {
    switch (item.kind) {
      case Kind::Body:
      case Kind::BodyStructure:
      case Kind::Rfc822Header:
      case Kind::Rfc822Text:
      case Kind::Binary:
      case Kind::BinarySize:
        return true;
      case Kind::BodySection:
        if (!item.section.part.empty() || item.section.kind != Section::Kind::All) return true;
        break;
      default:
        break;
    }
  }
  return false;
}

bool FetchRequest::needs_file() const {
  for (const FetchItem& item : items) {
    switch (item.kind) {
      case Kind::BodySection:
      case Kind::Rfc822:
      case Kind::Rfc822Header:
      case Kind::Rfc822Text:
      case Kind::Binary:
      case Kind::BinarySize:
        return true;
      default:
        break;
    }
  }
  return false;
}

bool FetchRequest::needs_envelope() const {
  return has(*this, Kind::Envelope);
}

bool FetchRequest::sets_seen() const {
  for (const FetchItem& item : items) {
    switch (item.kind) {
      case Kind::BodySection:
      case Kind::Binary:
        if (!item.peek) return true;
        break;
      case Kind::Rfc822:
      case Kind::Rfc822Text:
        return true;
      default:
        break;
    }
  }
  return false;
}

bool FetchRequest::index_only() const {
  for (const FetchItem& item : items) {
    switch (item.kind) {
      case Kind::Uid:
      case Kind::Flags:
      case Kind::InternalDate:
      case Kind::Rfc822Size:
      case Kind::ModSeq:
        break;
      default:
        return false;
    }
  }
  return true;
}

tl::expected<FetchRequest, std::string> parse_fetch(std::span<const Token> args, bool uid_command) {
  if (args.empty()) return bad("Missing FETCH items");
  if (args.size() > 2) return bad("Too many FETCH arguments");
  FetchRequest request;
  const Token& items = args[0];
  if (items.kind == Token::Kind::Atom) {
    const std::string_view text = items.text;
    const bool all = mime::iequals(text, "ALL");
    const bool full = mime::iequals(text, "FULL");
    if (all || full || mime::iequals(text, "FAST")) {
      add_item(request, simple(Kind::Flags, "FLAGS"));
      add_item(request, simple(Kind::InternalDate, "INTERNALDATE"));
      add_item(request, simple(Kind::Rfc822Size, "RFC822.SIZE"));
      if (all || full) add_item(request, simple(Kind::Envelope, "ENVELOPE"));
      if (full) add_item(request, simple(Kind::Body, "BODY"));
    } else {
      auto item = parse_item(text);
      if (!item) return tl::unexpected(item.error());
      add_item(request, std::move(*item));
    }
  } else if (items.kind == Token::Kind::List && !items.children.empty()) {
    for (const Token& t : items.children) {
      if (t.kind != Token::Kind::Atom) return bad("Invalid FETCH item");
      auto item = parse_item(t.text);
      if (!item) return tl::unexpected(item.error());
      add_item(request, std::move(*item));
    }
  } else {
    return bad("Invalid FETCH items");
  }
  if (args.size() == 2) {
    if (auto ok = parse_modifiers(args[1], request); !ok) return tl::unexpected(ok.error());
  }
  if (uid_command && !has(request, Kind::Uid)) {
    request.items.insert(request.items.begin(), simple(Kind::Uid, "UID"));
  }
  if (request.changed_since && !has(request, Kind::ModSeq)) {
    request.items.push_back(simple(Kind::ModSeq, "MODSEQ"));
  }
  return request;
}

}  // namespace postern::node::imap
