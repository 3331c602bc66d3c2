#include "backend/mime/address.hpp"

#include "backend/mime/text.hpp"

namespace postern::node::mime {

namespace {

enum class Kind { Atom, Quoted, Literal, Comment, Special };

struct Token {
  Kind kind;
  std::string text;  // Special: the one character
};

bool is_address_special(char c) {
  switch (c) {
    case '(':
    case ')':
    case '<':
    case '>':
    case '[':
    case ']':
    case ':':
    case ';':
    case '@':
    case '\\':
    case ',':
    case '"':
      return true;
    default:
      return false;
  }
}

// Reads a quoted string, comment or domain literal starting at text[pos] (the
// opening character); unterminated ones run to the end. Escapes are removed.
std::string read_delimited(std::string_view text, std::size_t& pos, char open, char close) {
  std::string out;
  int depth = 0;
  while (pos < text.size()) {
    const char c = text[pos++];
    if (c == '\\' && pos < text.size()) {
      out += text[pos++];
      continue;
    }
    if (c == open && (open != close || depth == 0)) {
      if (depth++ > 0) out += c;
      continue;
    }
    if (c == close && --depth == 0) break;
    out += c;
  }
  return out;
}

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const char c = text[pos];
    if (is_wsp(c) || c == '\r' || c == '\n') {
      ++pos;
    } else if (c == '"') {
      tokens.push_back({Kind::Quoted, read_delimited(text, pos, '"', '"')});
    } else if (c == '(') {
      tokens.push_back({Kind::Comment, read_delimited(text, pos, '(', ')')});
    } else if (c == '[') {
      const std::size_t start = pos;
      read_delimited(text, pos, '[', ']');
      tokens.push_back({Kind::Literal, std::string(text.substr(start, pos - start))});
    } else if (is_address_special(c)) {
      tokens.push_back({Kind::Special, std::string(1, c)});
      ++pos;
    } else {
      const std::size_t start = pos;
      while (pos < text.size() && !is_address_special(text[pos]) && !is_wsp(text[pos]) &&
             text[pos] != '\r' && text[pos] != '\n') {
        ++pos;
      }
      tokens.push_back({Kind::Atom, std::string(text.substr(start, pos - start))});
    }
  }
  return tokens;
}

class AddressParser {
 public:
  explicit AddressParser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::vector<Address> parse() {
    while (i_ < tokens_.size()) {
      if (special(',')) {
        ++i_;
      } else if (special(';')) {
        ++i_;
        close_group();
      } else {
        mailbox_or_group();
      }
    }
    close_group();
    return std::move(out_);
  }

 private:
  bool special(char c) const {
    return i_ < tokens_.size() && tokens_[i_].kind == Kind::Special && tokens_[i_].text[0] == c;
  }

  void close_group() {
    if (!in_group_) return;
    out_.push_back(Address{});
    in_group_ = false;
  }

  // Words (atoms and quoted strings) up to the next special; remembers comments.
  std::vector<std::string> words() {
    std::vector<std::string> w;
    while (i_ < tokens_.size() && tokens_[i_].kind != Kind::Special) {
      if (tokens_[i_].kind == Kind::Comment) {
        comment_ = tokens_[i_].text;
      } else {
        w.push_back(tokens_[i_].text);
      }
      ++i_;
    }
    return w;
  }

  static std::string join(const std::vector<std::string>& w, std::string_view sep) {
    std::string s;
    for (const auto& part : w) {
      if (!s.empty() && !part.empty()) s += sep;
      s += part;
    }
    return s;
  }

  static std::string or_missing(std::string s, std::string_view missing) {
    return s.empty() ? std::string(missing) : s;
  }

  // The domain after '@': atoms, literals and dots, up to a special.
  std::string domain() { return join(words(), ""); }

  std::optional<std::string> name_or_comment(const std::vector<std::string>& phrase) {
    std::string name = join(phrase, " ");
    if (!name.empty()) return name;
    if (comment_ && !trim_wsp(*comment_).empty()) return std::string(trim_wsp(*comment_));
    return std::nullopt;
  }

  void mailbox_or_group() {
    comment_.reset();
    const std::vector<std::string> phrase = words();
    if (special(':') && !in_group_) {
      ++i_;
      out_.push_back(Address{std::nullopt, join(phrase, " "), std::nullopt});
      in_group_ = true;
    } else if (special('<')) {
      ++i_;
      angle_addr(phrase);
    } else if (special('@')) {
      ++i_;
      std::string host = domain();
      out_.push_back(Address{name_or_comment({}), or_missing(join(phrase, ""), kMissingMailbox),
                             or_missing(std::move(host), kMissingDomain)});
    } else {
      if (!phrase.empty()) {
        out_.push_back(Address{std::nullopt, join(phrase, " "), std::string(kMissingDomain)});
      }
      if (i_ < tokens_.size() && !special(',') && !special(';')) ++i_;  // stray special
    }
  }

  // After '<': [route ':'] local-part '@' domain '>'.
  void angle_addr(const std::vector<std::string>& phrase) {
    std::string local;
    std::string host;
    bool at_seen = false;
    while (i_ < tokens_.size() && !special('>')) {
      const Token& t = tokens_[i_++];
      if (t.kind == Kind::Comment) continue;
      if (t.kind == Kind::Special) {
        if (t.text[0] == ':') {  // end of an obsolete source route: forget it
          local.clear();
          host.clear();
          at_seen = false;
        } else if (t.text[0] == '@') {
          at_seen = true;
        } else if (t.text[0] == ',' && !at_seen) {
          continue;  // inside the route "@a,@b:"
        }
        continue;
      }
      (at_seen ? host : local) += t.text;
    }
    if (special('>')) ++i_;
    // Anything up to the next separator is garbage (or a comment).
    while (i_ < tokens_.size() && !special(',') && !special(';')) ++i_;
    out_.push_back(Address{name_or_comment(phrase), or_missing(std::move(local), kMissingMailbox),
                           or_missing(std::move(host), kMissingDomain)});
  }

  std::vector<Token> tokens_;
  std::size_t i_ = 0;
  bool in_group_ = false;
  std::optional<std::string> comment_;
  std::vector<Address> out_;
};

}  // namespace

std::vector<Address> parse_address_list(std::string_view value) {
  return AddressParser(tokenize(value)).parse();
}

}  // namespace postern::node::mime
