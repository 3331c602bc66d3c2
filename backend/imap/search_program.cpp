#include "backend/imap/search_program.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

#include "backend/imap/imap_date.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

using core::imap::Token;
using Kind = SearchKey::Kind;

// What follows a key name.
enum class Arg { None, String, Date, Number, Set, HeaderField, Keyword, ModSeq, OneKey, TwoKeys };

struct KeySpec {
  std::string_view name;
  Arg arg;
  Kind kind;
  store::FlagBits flag = 0;
  bool negate = false;          // the UN* keys
  std::string_view field = {};  // FROM and friends: the envelope field they search
};

constexpr std::array kKeys{
    KeySpec{"ALL", Arg::None, Kind::All},
    KeySpec{"ANSWERED", Arg::None, Kind::Flag, store::kFlagAnswered},
    KeySpec{"BCC", Arg::String, Kind::Header, 0, false, "Bcc"},
    KeySpec{"BEFORE", Arg::Date, Kind::Before},
    KeySpec{"BODY", Arg::String, Kind::Body},
    KeySpec{"CC", Arg::String, Kind::Header, 0, false, "Cc"},
    KeySpec{"DELETED", Arg::None, Kind::Flag, store::kFlagDeleted},
    KeySpec{"DRAFT", Arg::None, Kind::Flag, store::kFlagDraft},
    KeySpec{"FLAGGED", Arg::None, Kind::Flag, store::kFlagFlagged},
    KeySpec{"FROM", Arg::String, Kind::Header, 0, false, "From"},
    KeySpec{"HEADER", Arg::HeaderField, Kind::Header},
    KeySpec{"KEYWORD", Arg::Keyword, Kind::Keyword},
    KeySpec{"LARGER", Arg::Number, Kind::Larger},
    KeySpec{"MODSEQ", Arg::ModSeq, Kind::ModSeq},
    KeySpec{"NEW", Arg::None, Kind::Recent},  // completed in parse_named()
    KeySpec{"NOT", Arg::OneKey, Kind::Not},
    KeySpec{"OLD", Arg::None, Kind::Recent, 0, true},
    KeySpec{"ON", Arg::Date, Kind::On},
    KeySpec{"OR", Arg::TwoKeys, Kind::Or},
    KeySpec{"RECENT", Arg::None, Kind::Recent},
    KeySpec{"SEEN", Arg::None, Kind::Flag, store::kFlagSeen},
    KeySpec{"SENTBEFORE", Arg::Date, Kind::SentBefore},
    KeySpec{"SENTON", Arg::Date, Kind::SentOn},
    KeySpec{"SENTSINCE", Arg::Date, Kind::SentSince},
    KeySpec{"SINCE", Arg::Date, Kind::Since},
    KeySpec{"SMALLER", Arg::Number, Kind::Smaller},
    KeySpec{"SUBJECT", Arg::String, Kind::Header, 0, false, "Subject"},
    KeySpec{"TEXT", Arg::String, Kind::Text},
    KeySpec{"TO", Arg::String, Kind::Header, 0, false, "To"},
    KeySpec{"UID", Arg::Set, Kind::Uid},
    KeySpec{"UNANSWERED", Arg::None, Kind::Flag, store::kFlagAnswered, true},
    KeySpec{"UNDELETED", Arg::None, Kind::Flag, store::kFlagDeleted, true},
    KeySpec{"UNDRAFT", Arg::None, Kind::Flag, store::kFlagDraft, true},
    KeySpec{"UNFLAGGED", Arg::None, Kind::Flag, store::kFlagFlagged, true},
    KeySpec{"UNKEYWORD", Arg::Keyword, Kind::Keyword, 0, true},
    KeySpec{"UNSEEN", Arg::None, Kind::Flag, store::kFlagSeen, true},
};

const KeySpec* find_key(std::string_view name) {
  for (const KeySpec& spec : kKeys) {
    if (mime::iequals(spec.name, name)) return &spec;
  }
  return nullptr;
}

// RFC 7162 mod-sequence-valzer: 0..2^63-1.
constexpr std::uint64_t kMaxModSeq = (std::uint64_t{1} << 63) - 1;

std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

SearchKey negated(SearchKey key) {
  SearchKey out;
  out.kind = Kind::Not;
  out.children.push_back(std::move(key));
  return out;
}

class Parser {
 public:
  explicit Parser(std::span<const Token> tokens) : tokens_(tokens) {}

  tl::expected<SearchProgram, SearchParseError> run() {
    SearchProgram program;
    program.root.kind = Kind::And;
    if (!charset()) return tl::unexpected(error_);
    if (at_end()) return fail("Missing search criteria");
    while (!at_end()) {
      SearchKey key;
      if (!parse_key(key, 0)) return tl::unexpected(error_);
      program.root.children.push_back(std::move(key));
    }
    return program;
  }

 private:
  bool at_end() const { return pos_ >= tokens_.size(); }

  tl::unexpected<SearchParseError> fail(std::string message) {
    error_.message = std::move(message);
    return tl::unexpected(error_);
  }
  bool error(std::string message) {
    error_.message = std::move(message);
    return false;
  }

  bool charset() {
    if (at_end() || tokens_[pos_].kind != Token::Kind::Atom ||
        !mime::iequals(tokens_[pos_].text, "CHARSET")) {
      return true;
    }
    ++pos_;
    std::string name;
    if (!take_string("CHARSET", name)) return false;
    if (mime::iequals(name, "US-ASCII") || mime::iequals(name, "UTF-8")) return true;
    error_.bad_charset = true;
    return error(fmt::format("Unsupported charset {}", name.substr(0, 64)));
  }

  // An astring: atom, quoted string, literal, or NIL read as the text "NIL".
  bool take_string(std::string_view key, std::string& out) {
    if (at_end()) return error(fmt::format("Missing argument to {}", key));
    const Token& t = tokens_[pos_];
    if (t.kind == Token::Kind::List) return error(fmt::format("Bad argument to {}", key));
    out = t.text;
    ++pos_;
    return true;
  }

  bool take_atom(std::string_view key, std::string_view& out) {
    if (at_end()) return error(fmt::format("Missing argument to {}", key));
    const Token& t = tokens_[pos_];
    if (t.kind != Token::Kind::Atom) return error(fmt::format("Bad argument to {}", key));
    out = t.text;
    ++pos_;
    return true;
  }

  bool take_date(std::string_view key, std::int64_t& day) {
    if (at_end()) return error(fmt::format("Missing date after {}", key));
    const Token& t = tokens_[pos_];
    std::optional<std::int64_t> seconds;
    if (t.kind == Token::Kind::Atom || t.kind == Token::Kind::Quoted) seconds = parse_date(t.text);
    if (!seconds) return error(fmt::format("Invalid date after {}", key));
    ++pos_;
    day = day_of_time(*seconds);
    return true;
  }

  bool take_number(std::string_view key, std::uint64_t max, std::uint64_t& out) {
    std::string_view text;
    if (!take_atom(key, text)) return false;
    auto value = parse_number(text, max);
    if (!value) return error(fmt::format("Invalid number after {}", key));
    out = *value;
    return true;
  }

  // MODSEQ [entry-name SP entry-type-req SP] mod-sequence-valzer. The entry
  // (a per-flag modseq) is not kept by the store: the message's modseq is
  // never lower, so using it matches at least what the client asked for.
  bool take_modseq(std::uint64_t& out) {
    if (!at_end() && tokens_[pos_].kind != Token::Kind::Atom) {
      ++pos_;  // entry-name (a quoted string)
      std::string_view type;
      if (!take_atom("MODSEQ", type)) return false;
      if (!mime::iequals(type, "priv") && !mime::iequals(type, "shared") &&
          !mime::iequals(type, "all")) {
        return error("Invalid entry type after MODSEQ");
      }
    }
    return take_number("MODSEQ", kMaxModSeq, out);
  }

  bool parse_key(SearchKey& out, std::size_t depth) {
    if (depth >= kMaxSearchDepth) return error("Search criteria nested too deeply");
    if (++keys_ > kMaxSearchKeys) return error("Too many search keys");
    const Token& t = tokens_[pos_++];
    if (t.kind == Token::Kind::List) {
      if (t.children.empty()) return error("Empty search key group");
      out.kind = Kind::And;
      Parser inner(t.children);
      inner.keys_ = keys_;
      while (!inner.at_end()) {
        SearchKey key;
        if (!inner.parse_key(key, depth + 1)) {
          error_ = std::move(inner.error_);
          return false;
        }
        out.children.push_back(std::move(key));
      }
      keys_ = inner.keys_;
      return true;
    }
    if (t.kind != Token::Kind::Atom) return error("Search key expected");
    if (const KeySpec* spec = find_key(t.text)) return parse_named(*spec, out, depth);
    if (auto set = core::imap::parse_sequence_set(t.text)) {
      out.kind = Kind::Sequence;
      out.set = std::move(*set);
      return true;
    }
    return error(fmt::format("Unknown search key {}", t.text.substr(0, 64)));
  }

  bool parse_named(const KeySpec& spec, SearchKey& out, std::size_t depth) {
    out.kind = spec.kind;
    out.flag = spec.flag;
    out.field = std::string(spec.field);
    out.envelope = !spec.field.empty();
    switch (spec.arg) {
      case Arg::None:
        break;
      case Arg::String:
        if (!take_string(spec.name, out.text)) return false;
        break;
      case Arg::HeaderField:
        if (!take_string(spec.name, out.field) || !take_string(spec.name, out.text)) return false;
        break;
      case Arg::Keyword:
        if (!take_string(spec.name, out.text)) return false;
        break;
      case Arg::Date:
        if (!take_date(spec.name, out.day)) return false;
        break;
      case Arg::Number:
        if (!take_number(spec.name, UINT64_MAX, out.number)) return false;
        break;
      case Arg::ModSeq:
        if (!take_modseq(out.number)) return false;
        break;
      case Arg::Set: {
        std::string_view text;
        if (!take_atom(spec.name, text)) return false;
        auto set = core::imap::parse_sequence_set(text);
        if (!set) return error("Invalid UID set");
        out.set = std::move(*set);
        break;
      }
      case Arg::OneKey:
      case Arg::TwoKeys: {
        const std::size_t count = spec.arg == Arg::OneKey ? 1 : 2;
        for (std::size_t i = 0; i < count; ++i) {
          if (at_end()) return error(fmt::format("Missing search key after {}", spec.name));
          SearchKey child;
          if (!parse_key(child, depth + 1)) return false;
          out.children.push_back(std::move(child));
        }
        break;
      }
    }
    if (spec.name == "NEW") {  // RECENT UNSEEN
      SearchKey unseen;
      unseen.kind = Kind::Flag;
      unseen.flag = store::kFlagSeen;
      out.kind = Kind::And;
      out.children.push_back(SearchKey{.kind = Kind::Recent});
      out.children.push_back(negated(std::move(unseen)));
    }
    if (spec.negate) out = negated(std::move(out));
    return true;
  }

  std::span<const Token> tokens_;
  std::size_t pos_ = 0;
  std::size_t keys_ = 0;
  SearchParseError error_;
};

bool any_key(const SearchKey& key, bool (*pred)(Kind)) {
  if (pred(key.kind)) return true;
  return std::any_of(key.children.begin(), key.children.end(),
                     [pred](const SearchKey& child) { return any_key(child, pred); });
}

// Days since 1970-01-01 to "yyyy-mm-dd" (H. Hinnant's civil_from_days).
std::string day_text(std::int64_t day) {
  const std::int64_t z = day + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

std::string_view flag_name(store::FlagBits flag) {
  switch (flag) {
    case store::kFlagSeen:
      return "SEEN";
    case store::kFlagAnswered:
      return "ANSWERED";
    case store::kFlagFlagged:
      return "FLAGGED";
    case store::kFlagDeleted:
      return "DELETED";
    case store::kFlagDraft:
      return "DRAFT";
    default:
      return "FLAG?";
  }
}

}  // namespace

std::string to_string(const SearchKey& key) {
  auto quoted = [](const std::string& s) { return fmt::format("\"{}\"", s); };
  auto upper = [](std::string s) {
    for (char& c : s) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return s;
  };
  switch (key.kind) {
    case Kind::All:
      return "ALL";
    case Kind::And: {
      std::string out = "(";
      for (const SearchKey& child : key.children) {
        if (out.size() > 1) out += ' ';
        out += to_string(child);
      }
      return out + ")";
    }
    case Kind::Or:
    case Kind::Not: {
      std::string out = key.kind == Kind::Or ? "(OR" : "(NOT";
      for (const SearchKey& child : key.children) out += " " + to_string(child);
      return out + ")";
    }
    case Kind::Sequence:
      return key.set.to_string();
    case Kind::Uid:
      return "UID " + key.set.to_string();
    case Kind::Flag:
      return std::string(flag_name(key.flag));
    case Kind::Keyword:
      return "KEYWORD " + key.text;
    case Kind::Recent:
      return "RECENT";
    case Kind::Before:
      return "BEFORE " + day_text(key.day);
    case Kind::On:
      return "ON " + day_text(key.day);
    case Kind::Since:
      return "SINCE " + day_text(key.day);
    case Kind::SentBefore:
      return "SENTBEFORE " + day_text(key.day);
    case Kind::SentOn:
      return "SENTON " + day_text(key.day);
    case Kind::SentSince:
      return "SENTSINCE " + day_text(key.day);
    case Kind::Larger:
      return fmt::format("LARGER {}", key.number);
    case Kind::Smaller:
      return fmt::format("SMALLER {}", key.number);
    case Kind::ModSeq:
      return fmt::format("MODSEQ {}", key.number);
    case Kind::Header:
      if (key.envelope) return fmt::format("{} {}", upper(key.field), quoted(key.text));
      return fmt::format("HEADER {} {}", key.field, quoted(key.text));
    case Kind::Body:
      return "BODY " + quoted(key.text);
    case Kind::Text:
      return "TEXT " + quoted(key.text);
  }
  return "?";
}

bool SearchProgram::needs_content() const {
  return any_key(root, [](Kind kind) {
    return kind == Kind::Header || kind == Kind::Body || kind == Kind::Text ||
           kind == Kind::SentBefore || kind == Kind::SentOn || kind == Kind::SentSince;
  });
}

bool SearchProgram::uses_modseq() const {
  return any_key(root, [](Kind kind) { return kind == Kind::ModSeq; });
}

tl::expected<SearchProgram, SearchParseError> parse_search(
    std::span<const core::imap::Token> args) {
  return Parser(args).run();
}

}  // namespace postern::node::imap
