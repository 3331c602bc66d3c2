#include "core/imap_parser.hpp"

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>

namespace postern::core::imap {
namespace {

using Kind = Error::Kind;

bool is_ctl(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// RFC 3501 ATOM-CHAR: a 7-bit CHAR that is not a CTL or an atom-special.
bool is_atom_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c < 0x80 && !is_ctl(c) &&
         std::string_view("(){ %*\"\\]").find(ch) == std::string_view::npos;
}

// What may appear in an argument atom: flags (`\Seen`), sequence sets (`1:*`),
// LIST patterns (`%`) and the astring extra `]`.
bool is_arg_atom_char(char c) {
  return is_atom_char(c) || c == '\\' || c == '%' || c == '*' || c == ']';
}

// tag = 1*<any ASTRING-CHAR except "+">
bool is_tag_char(char c) {
  return (is_atom_char(c) || c == ']') && c != '+';
}

// Inside `[...]` of an atom: any printable 7-bit character.
bool is_section_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c >= 0x20 && c < 0x7f;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// size * 10 + digit, false on overflow.
bool add_digit(std::uint64_t& size, char digit) {
  const auto d = static_cast<std::uint64_t>(digit - '0');
  if (size > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
  size = size * 10 + d;
  return true;
}

bool is_nil(std::string_view s) {
  return s.size() == 3 && (s[0] == 'N' || s[0] == 'n') && (s[1] == 'I' || s[1] == 'i') &&
         (s[2] == 'L' || s[2] == 'l');
}

}  // namespace

std::string_view error_kind_name(Error::Kind kind) {
  switch (kind) {
    case Kind::Syntax:
      return "syntax";
    case Kind::LineTooLong:
      return "line_too_long";
    case Kind::LiteralTooLarge:
      return "literal_too_large";
    case Kind::TooDeep:
      return "too_deep";
    case Kind::TooManyTokens:
      return "too_many_tokens";
  }
  return "unknown";
}

// States: 0 nothing, 1 after '{', 2 digits, 3 after '+', 4 after '}', 5 after "}\r".
void ImapParser::LiteralTail::update(char c) {
  if (c == '{') {
    state_ = 1;
    size_ = 0;
    plus_ = false;
    return;
  }
  switch (state_) {
    case 1:
    case 2:
      if (is_digit(c)) {
        state_ = add_digit(size_, c) ? 2 : 0;
      } else if (state_ == 2 && (c == '+' || c == '}')) {
        plus_ = c == '+';
        state_ = plus_ ? 3 : 4;
      } else {
        state_ = 0;
      }
      break;
    case 3:
      state_ = c == '}' ? 4 : 0;
      break;
    case 4:
      state_ = c == '\r' ? 5 : 0;
      break;
    default:
      state_ = 0;
      break;
  }
}

bool ImapParser::LiteralTail::nonsync_literal(std::uint64_t& size) const {
  if ((state_ != 4 && state_ != 5) || !plus_) return false;
  size = size_;
  return true;
}

ImapParser::ImapParser(Limits limits) : limits_(limits) {}

void ImapParser::expect_line() {
  raw_pending_ = true;
}

ParseResult ImapParser::feed(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (state_ == State::LiteralBody) {
      feed_literal(bytes, pos);
      continue;
    }
    if (state_ == State::SkipLiteral) {
      skip_literal(bytes, pos);
      continue;
    }
    const Status status = step(bytes[pos++]);
    if (status != Status::NeedMore) {
      ParseResult result = std::move(event_);
      event_ = ParseResult{};
      result.status = status;
      result.consumed = pos;
      return result;
    }
  }
  ParseResult result;
  result.consumed = pos;
  return result;
}

Status ImapParser::step(char c) {
  if (state_ == State::Skip) {
    skip_byte(c);
    return Status::NeedMore;
  }
  if (state_ == State::LineStart && raw_pending_ && !cr_pending_) {
    raw_pending_ = false;
    state_ = State::RawLine;
  }
  if (cr_pending_) {
    cr_pending_ = false;
    if (c == '\n') return end_of_line();
    tail_.update(c);
    return fail(Kind::Syntax, "CR without LF");
  }
  if (c == '\n') return end_of_line();
  tail_.update(c);
  if (c == '\r') {
    cr_pending_ = true;
    return Status::NeedMore;
  }
  if (++line_bytes_ > limits_.max_line) return fail(Kind::LineTooLong, "line too long");

  switch (state_) {
    case State::LineStart:
    case State::Tag:
    case State::NameStart:
    case State::Name:
      return head_byte(c);
    case State::ArgStart:
    case State::ListStart:
      return token_start(c);
    case State::AfterToken:
      if (c == ')') return close_list();
      if (c != ' ') return fail(Kind::Syntax, "expected a space");
      state_ = State::ArgStart;
      return Status::NeedMore;
    case State::Tilde:
      if (c == '{') {
        literal8_ = true;
        state_ = State::LiteralOpen;
        return Status::NeedMore;
      }
      current_ = Token{Token::Kind::Atom, "~", {}, false};
      ++held_;
      state_ = State::Atom;
      return atom_byte(c);
    case State::Atom:
      return atom_byte(c);
    case State::Quoted:
    case State::QuotedEscape:
      return quoted_byte(c);
    case State::LiteralOpen:
    case State::LiteralDigits:
    case State::LiteralPlus:
    case State::LiteralClose:
      return literal_byte(c);
    case State::RawLine:
      line_ += c;
      ++held_;
      return Status::NeedMore;
    case State::LiteralBody:
    case State::Skip:
    case State::SkipLiteral:
      break;
  }
  assert(false && "state handled in feed()");
  return Status::NeedMore;
}

// The tag and the command name.
Status ImapParser::head_byte(char c) {
  switch (state_) {
    case State::LineStart:
      if (c == ' ') return fail(Kind::Syntax, "line starts with a space");
      if (!is_tag_char(c)) return fail(Kind::Syntax, "bad tag");
      state_ = State::Tag;
      break;
    case State::Tag:
      if (c == ' ') {
        tag_done_ = true;
        state_ = State::NameStart;
        return Status::NeedMore;
      }
      if (!is_tag_char(c)) return fail(Kind::Syntax, "bad character in tag");
      break;
    default:
      if (c == ' ' && state_ == State::Name) {
        state_ = State::ArgStart;
        return Status::NeedMore;
      }
      if (!is_atom_char(c)) return fail(Kind::Syntax, "bad command name");
      state_ = State::Name;
      name_ += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      ++held_;
      return Status::NeedMore;
  }
  tag_ += c;
  ++held_;
  return Status::NeedMore;
}

Status ImapParser::token_start(char c) {
  switch (c) {
    case '(':
      return open_list();
    case ')':
      if (state_ != State::ListStart) return fail(Kind::Syntax, "unexpected ')'");
      return close_list();
    case ' ':
      return fail(Kind::Syntax, "unexpected space");
    default:
      break;
  }
  if (c != '"' && c != '{' && !is_arg_atom_char(c))
    return fail(Kind::Syntax, "unexpected character");
  if (!count_token()) return fail(Kind::TooManyTokens, "too many tokens");
  if (c == '"') {
    current_ = Token{Token::Kind::Quoted, {}, {}, false};
    state_ = State::Quoted;
  } else if (c == '{' || c == '~') {
    literal8_ = false;
    literal_size_ = 0;
    literal_plus_ = false;
    // `~{` starts a literal8, `~` and anything else an atom
    state_ = c == '{' ? State::LiteralOpen : State::Tilde;
  } else {
    current_ = Token{Token::Kind::Atom, std::string(1, c), {}, false};
    ++held_;
    bracket_depth_ = c == '[' ? 1 : 0;
    state_ = State::Atom;
  }
  return Status::NeedMore;
}

Status ImapParser::quoted_byte(char c) {
  if (state_ == State::QuotedEscape) {
    if (c != '"' && c != '\\') return fail(Kind::Syntax, "bad escape in quoted string");
    state_ = State::Quoted;
  } else if (c == '"') {
    push_token(std::exchange(current_, Token{}));
    state_ = State::AfterToken;
    return Status::NeedMore;
  } else if (c == '\\') {
    state_ = State::QuotedEscape;
    return Status::NeedMore;
  } else if (c == '\0') {
    return fail(Kind::Syntax, "NUL in quoted string");
  }
  current_.text += c;
  ++held_;
  return Status::NeedMore;
}

Status ImapParser::atom_byte(char c) {
  if (bracket_depth_ > 0) {
    if (!is_section_char(c)) return fail(Kind::Syntax, "bad character in section");
    if (c == '[') ++bracket_depth_;
    if (c == ']') --bracket_depth_;
  } else if (c == ' ' || c == ')') {
    finish_atom();
    if (c == ')') return close_list();
    state_ = State::ArgStart;
    return Status::NeedMore;
  } else if (!is_arg_atom_char(c)) {
    return fail(Kind::Syntax, "bad character in atom");
  } else if (c == '[') {
    bracket_depth_ = 1;
  }
  current_.text += c;
  ++held_;
  return Status::NeedMore;
}

Status ImapParser::literal_byte(char c) {
  switch (state_) {
    case State::LiteralOpen:
    case State::LiteralDigits:
      if (is_digit(c)) {
        if (!add_digit(literal_size_, c)) return fail(Kind::Syntax, "literal size out of range");
        state_ = State::LiteralDigits;
        return Status::NeedMore;
      }
      if (state_ == State::LiteralDigits && c == '+') {
        literal_plus_ = true;
        state_ = State::LiteralPlus;
        return Status::NeedMore;
      }
      [[fallthrough]];
    case State::LiteralPlus:
      if (c == '}' && state_ != State::LiteralOpen) {
        state_ = State::LiteralClose;
        return Status::NeedMore;
      }
      return fail(Kind::Syntax, "bad literal header");
    default:
      return fail(Kind::Syntax, "literal header must end the line");
  }
}

Status ImapParser::end_of_line() {
  switch (state_) {
    case State::LineStart:
      start_line();  // an empty line between commands is ignored
      return Status::NeedMore;
    case State::RawLine:
      event_.line = std::move(line_);
      reset_command();
      start_line();
      return Status::Line;
    case State::Tag:
    case State::NameStart:
      tag_done_ = true;
      return fail_at_line_end(Kind::Syntax, "missing command name");
    case State::Atom:
      if (bracket_depth_ > 0) return fail_at_line_end(Kind::Syntax, "missing ']'");
      finish_atom();
      break;
    case State::Tilde:
      current_ = Token{Token::Kind::Atom, "~", {}, false};
      ++held_;
      finish_atom();
      break;
    case State::Quoted:
    case State::QuotedEscape:
      return fail_at_line_end(Kind::Syntax, "missing '\"'");
    case State::LiteralOpen:
    case State::LiteralDigits:
    case State::LiteralPlus:
      return fail_at_line_end(Kind::Syntax, "bad literal header");
    case State::LiteralClose:
      return literal_header_done();
    case State::Name:
    case State::ArgStart:  // a trailing space is tolerated
    case State::ListStart:
    case State::AfterToken:
      break;
    case State::LiteralBody:
    case State::Skip:
    case State::SkipLiteral:
      assert(false && "state handled in feed()");
      break;
  }
  if (!open_lists_.empty()) return fail_at_line_end(Kind::Syntax, "missing ')'");
  return finish_command();
}

// The header line of a literal has ended; its bytes come next.
Status ImapParser::literal_header_done() {
  const std::uint64_t size = literal_size_;
  if (size > limits_.max_literal - literal_total_) {
    const bool nonsync = literal_plus_;
    fail_at_line_end(Kind::LiteralTooLarge, "literal too large");
    event_.literal_size = size;
    if (nonsync) {
      // The client sends it anyway; count it off, then the rest of its command.
      remaining_ = size;
      state_ = State::SkipLiteral;
    }
    return Status::Error;
  }
  literal_total_ += size;
  current_ = Token{Token::Kind::Literal, {}, {}, literal8_};
  remaining_ = size;
  tail_.reset();
  state_ = State::LiteralBody;
  if (size == 0) {
    push_token(std::exchange(current_, Token{}));
    state_ = State::AfterToken;
  }
  if (literal_plus_) return Status::NeedMore;
  event_.literal_size = size;
  return Status::Continuation;
}

void ImapParser::feed_literal(std::string_view bytes, std::size_t& pos) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - pos));
  // Reserved once the literal starts arriving, not when announced: the client may
  // never send it. Exactly its size, so the bytes are held once.
  if (current_.text.empty()) current_.text.reserve(static_cast<std::size_t>(remaining_));
  current_.text.append(bytes.substr(pos, n));
  held_ += n;
  remaining_ -= n;
  pos += n;
  if (remaining_ == 0) {
    push_token(std::exchange(current_, Token{}));
    state_ = State::AfterToken;
  }
}

void ImapParser::skip_literal(std::string_view bytes, std::size_t& pos) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - pos));
  remaining_ -= n;
  pos += n;
  if (remaining_ == 0) {
    tail_.reset();
    state_ = State::Skip;
  }
}

void ImapParser::skip_byte(char c) {
  if (c != '\n') {
    tail_.update(c);
    return;
  }
  std::uint64_t size = 0;
  if (raw_skip_ || !tail_.nonsync_literal(size)) {
    start_line();
    return;
  }
  tail_.reset();
  if (size > 0) {
    remaining_ = size;
    state_ = State::SkipLiteral;
  }
}

bool ImapParser::count_token() {
  if (tokens_ >= limits_.max_tokens) return false;
  ++tokens_;
  return true;
}

void ImapParser::push_token(Token token) {
  if (open_lists_.empty()) {
    args_.push_back(std::move(token));
  } else {
    open_lists_.back().children.push_back(std::move(token));
  }
}

Status ImapParser::open_list() {
  if (open_lists_.size() >= limits_.max_depth)
    return fail(Kind::TooDeep, "lists nested too deeply");
  if (!count_token()) return fail(Kind::TooManyTokens, "too many tokens");
  open_lists_.push_back(Token{Token::Kind::List, {}, {}, false});
  state_ = State::ListStart;
  return Status::NeedMore;
}

Status ImapParser::close_list() {
  if (open_lists_.empty()) return fail(Kind::Syntax, "unexpected ')'");
  Token list = std::move(open_lists_.back());
  open_lists_.pop_back();
  push_token(std::move(list));
  state_ = State::AfterToken;
  return Status::NeedMore;
}

void ImapParser::finish_atom() {
  if (is_nil(current_.text)) current_.kind = Token::Kind::Nil;
  push_token(std::exchange(current_, Token{}));
  state_ = State::AfterToken;
}

Status ImapParser::finish_command() {
  event_.command.tag = std::move(tag_);
  event_.command.name = std::move(name_);
  event_.command.args = std::move(args_);
  reset_command();
  start_line();
  return Status::Command;
}

// An error in the middle of a line: the rest of the line is skipped as it comes.
Status ImapParser::fail(Error::Kind kind, std::string message) {
  const bool raw = state_ == State::RawLine;
  const LiteralTail tail = tail_;  // the line so far may end up announcing a literal
  fail_at_line_end(kind, std::move(message));
  tail_ = tail;
  raw_skip_ = raw;
  state_ = State::Skip;
  return Status::Error;
}

// An error found at the line end (or one that ends the command by itself).
Status ImapParser::fail_at_line_end(Error::Kind kind, std::string message) {
  event_.error = Error{kind, tag_done_ ? std::move(tag_) : std::string(), std::move(message)};
  reset_command();
  start_line();
  return Status::Error;
}

void ImapParser::start_line() {
  state_ = State::LineStart;
  cr_pending_ = false;
  raw_skip_ = false;
  tail_.reset();
}

// Drops the command in progress, releasing its memory.
void ImapParser::reset_command() {
  tag_ = std::string();
  name_ = std::string();
  args_ = std::vector<Token>();
  open_lists_ = std::vector<Token>();
  current_ = Token{};
  line_ = std::string();
  tag_done_ = false;
  line_bytes_ = 0;
  held_ = 0;
  tokens_ = 0;
  literal_total_ = 0;
  bracket_depth_ = 0;
}

}  // namespace postern::core::imap
