#include "backend/imap/flags.hpp"

#include <array>
#include <string_view>

#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

using core::imap::Token;

struct SystemFlag {
  store::FlagBits bit;
  std::string_view name;
};

// Bit order: what FETCH FLAGS writes.
constexpr std::array<SystemFlag, 5> kSystemFlags = {{
    {store::kFlagSeen, "\\Seen"},
    {store::kFlagAnswered, "\\Answered"},
    {store::kFlagFlagged, "\\Flagged"},
    {store::kFlagDeleted, "\\Deleted"},
    {store::kFlagDraft, "\\Draft"},
}};

// RFC 3501 ATOM-CHAR: printable US-ASCII except atom-specials.
bool is_atom_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  switch (c) {
    case '(':
    case ')':
    case '{':
    case '%':
    case '*':
    case '"':
    case '\\':
    case ']':
      return false;
    default:
      return true;
  }
}

tl::expected<void, std::string> add_flag(const Token& token, FlagList& list) {
  if (token.kind != Token::Kind::Atom && token.kind != Token::Kind::Nil) {
    return tl::unexpected(std::string("Flags must be atoms"));
  }
  const std::string& text = token.text;
  if (!text.empty() && text.front() == '\\') {
    for (const SystemFlag& f : kSystemFlags) {
      if (mime::iequals(text, f.name)) {
        list.flags |= f.bit;
        return {};
      }
    }
    if (mime::iequals(text, "\\Recent")) {
      return tl::unexpected(std::string("\\Recent cannot be set"));
    }
    return tl::unexpected(std::string("Unknown system flag"));
  }
  if (text.empty()) return tl::unexpected(std::string("Empty flag"));
  for (char c : text) {
    if (!is_atom_char(c)) return tl::unexpected(std::string("Invalid characters in keyword"));
  }
  for (const std::string& k : list.keywords) {
    if (mime::iequals(k, text)) return {};
  }
  list.keywords.push_back(text);
  return {};
}

}  // namespace

void append_flags(std::string& out, store::FlagBits flags, std::uint64_t keywords,
                  std::span<const std::string> keyword_names, bool recent) {
  out += '(';
  bool first = true;
  auto add = [&](std::string_view name) {
    if (!first) out += ' ';
    first = false;
    out.append(name);
  };
  for (const SystemFlag& f : kSystemFlags) {
    if (flags & f.bit) add(f.name);
  }
  if (recent) add("\\Recent");
  const std::size_t n = keyword_names.size() < 64 ? keyword_names.size() : 64;
  for (std::size_t i = 0; keywords != 0 && i < n; ++i) {
    if (keywords & (std::uint64_t{1} << i)) add(keyword_names[i]);
  }
  out += ')';
}

std::string format_flags(store::FlagBits flags, std::uint64_t keywords,
                         std::span<const std::string> keyword_names, bool recent) {
  std::string out;
  append_flags(out, flags, keywords, keyword_names, recent);
  return out;
}

tl::expected<FlagList, std::string> parse_flag_list(const Token& token, bool allow_single) {
  FlagList list;
  if (token.kind == Token::Kind::List) {
    for (const Token& child : token.children) {
      if (auto ok = add_flag(child, list); !ok) return tl::unexpected(ok.error());
    }
    return list;
  }
  if (!allow_single) return tl::unexpected(std::string("Expected a flag list"));
  if (auto ok = add_flag(token, list); !ok) return tl::unexpected(ok.error());
  return list;
}

tl::expected<FlagList, std::string> parse_store_flags(std::span<const Token> args) {
  if (args.empty()) return tl::unexpected(std::string("Missing flags"));
  if (args.size() == 1) return parse_flag_list(args.front(), true);
  FlagList list;
  for (const Token& t : args) {
    if (t.kind == Token::Kind::List) return tl::unexpected(std::string("Unexpected list"));
    if (auto ok = add_flag(t, list); !ok) return tl::unexpected(ok.error());
  }
  return list;
}

std::string format_flag_names(std::span<const std::string> keyword_names, bool with_star) {
  std::string out = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft";
  for (const std::string& k : keyword_names) {
    out += ' ';
    out += k;
  }
  if (with_star) out += " \\*";
  out += ')';
  return out;
}

}  // namespace postern::node::imap
