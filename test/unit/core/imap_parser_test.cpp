#include "core/imap_parser.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test/unit/split_feed.hpp"

using postern::core::imap::Command;
using postern::core::imap::error_kind_name;
using postern::core::imap::ImapParser;
using ImapLimits = postern::core::imap::Limits;
using postern::core::imap::Status;
using postern::core::imap::Token;
using namespace std::literals;

namespace {

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  return out;
}

// Atoms as sent, "quoted" unescaped, {n}literal, ~{n}literal8, NIL<as sent>, (lists).
std::string show(const Token& t) {
  switch (t.kind) {
    case Token::Kind::Atom:
      return t.text;
    case Token::Kind::Quoted:
      return "\"" + printable(t.text) + "\"";
    case Token::Kind::Literal:
      return (t.literal8 ? "~{" : "{") + std::to_string(t.text.size()) + "}" + printable(t.text);
    case Token::Kind::Nil:
      return "NIL<" + t.text + ">";
    case Token::Kind::List: {
      std::string out = "(";
      for (const auto& c : t.children) out += (out.size() > 1 ? " " : "") + show(c);
      return out + ")";
    }
  }
  return "?";
}

// The session side of the test: feeds the chunks the way a session does,
// answers Continuations (by noting them), switches to raw-line mode after IDLE
// and AUTHENTICATE and after the events numbered in `raw_after` (0: before the
// first byte), and prints every event. Notes if the parser ever held more
// than `max_held` bytes or broke the feed() contract.
std::string run(const std::vector<std::string_view>& chunks, const ImapLimits& limits,
                std::size_t max_held, const std::vector<std::size_t>& raw_after) {
  ImapParser parser(limits);
  std::string out;
  std::size_t held = 0;
  std::size_t events = 0;
  auto raw_now = [&] {
    if (std::find(raw_after.begin(), raw_after.end(), events) != raw_after.end())
      parser.expect_line();
  };
  raw_now();
  for (std::string_view in : chunks) {
    while (!in.empty()) {
      auto r = parser.feed(in);
      if (r.consumed > in.size() || (r.status != Status::NeedMore && r.consumed == 0) ||
          (r.status == Status::NeedMore && r.consumed != in.size())) {
        return out + "BROKEN CONTRACT\n";
      }
      in.remove_prefix(r.consumed);
      held = std::max(held, parser.buffered_bytes());
      if (r.status == Status::NeedMore) continue;
      ++events;
      switch (r.status) {
        case Status::NeedMore:
          break;
        case Status::Command:
          out += "CMD " + r.command.tag + " " + r.command.name;
          for (const auto& a : r.command.args) out += " " + show(a);
          out += "\n";
          if (r.command.name == "IDLE" || r.command.name == "AUTHENTICATE") parser.expect_line();
          break;
        case Status::Continuation:
          out += "+ " + std::to_string(r.literal_size) + "\n";
          break;
        case Status::Line:
          out += "LINE " + printable(r.line) + "\n";
          break;
        case Status::Error:
          out += "ERR " + std::string(error_kind_name(r.error.kind)) + " tag=" + r.error.tag + " " +
                 r.error.message;
          if (r.literal_size != 0) out += " size=" + std::to_string(r.literal_size);
          out += "\n";
          break;
      }
      raw_now();
    }
  }
  if (held > max_held) out += "HELD " + std::to_string(held) + "\n";
  return out;
}

// Parses `input` whole, after checking that every way of splitting it gives the
// same events and that the parser never holds more than its limits allow.
std::string parse(std::string_view input, ImapLimits limits = {},
                  std::vector<std::size_t> raw_after = {}) {
  const std::size_t max_held = limits.max_line + limits.max_literal;
  auto mismatch = postern::test::check_split_invariance(
      input, [&](const std::vector<std::string_view>& chunks) {
        return run(chunks, limits, max_held, raw_after);
      });
  CHECK_MESSAGE(mismatch.empty(), mismatch);
  return run({input}, limits, max_held, raw_after);
}

// The one command of `input`, for looking at its tokens.
Command parse_command(std::string_view input) {
  ImapParser parser;
  Command command;
  int commands = 0;
  while (!input.empty()) {
    auto r = parser.feed(input);
    input.remove_prefix(r.consumed);
    if (r.status == Status::Command) {
      command = std::move(r.command);
      ++commands;
    }
  }
  CHECK(commands == 1);
  return command;
}

}  // namespace

TEST_CASE("imap parser: every token kind") {
  auto c = parse_command("t1 X atom \"q\" {3}\r\nl\0t ~{2+}\r\nab (a) NIL nil\r\n"sv);
  CHECK(c.tag == "t1");
  CHECK(c.name == "X");
  REQUIRE(c.args.size() == 7);
  CHECK(c.args[0].kind == Token::Kind::Atom);
  CHECK(c.args[0].text == "atom");
  CHECK(c.args[1].kind == Token::Kind::Quoted);
  CHECK(c.args[1].text == "q");
  CHECK(c.args[2].kind == Token::Kind::Literal);
  CHECK(c.args[2].text == std::string("l\0t", 3));
  CHECK_FALSE(c.args[2].literal8);
  CHECK(c.args[3].kind == Token::Kind::Literal);
  CHECK(c.args[3].literal8);
  CHECK(c.args[4].kind == Token::Kind::List);
  REQUIRE(c.args[4].children.size() == 1);
  CHECK(c.args[4].children[0].text == "a");
  CHECK(c.args[5].kind == Token::Kind::Nil);
  CHECK(c.args[6].kind == Token::Kind::Nil);
  CHECK(c.args[6].text == "nil");

  CHECK(parse("t1 X atom \"q\" {3}\r\nl\0t ~{2+}\r\nab (a) NIL nil\r\n"sv) ==
        "+ 3\nCMD t1 X atom \"q\" {3}l\\0t ~{2}ab (a) NIL<NIL> NIL<nil>\n");
}

TEST_CASE("imap parser: LOGIN with quoted strings and escapes") {
  CHECK(parse("a001 login \"alice@example.com\" \"p\\\\w \\\"x\\\" \xc3\xa9\"\r\n") ==
        "CMD a001 LOGIN \"alice@example.com\" \"p\\w \"x\" \xc3\xa9\"\n");
  CHECK(parse("a LOGIN alice \"\"\r\n") == "CMD a LOGIN alice \"\"\n");
}

TEST_CASE("imap parser: APPEND with a synchronising literal asks once") {
  CHECK(parse("A003 APPEND saved-messages (\\Seen) {22}\r\n"
              "Subject: hi\r\n\r\nbody.\r\n\r\n") ==
        "+ 22\nCMD A003 APPEND saved-messages (\\Seen) {22}Subject: hi\\r\\n\\r\\nbody.\\r\\n\n");
  CHECK(parse("a APPEND box {0}\r\n\r\n") == "+ 0\nCMD a APPEND box {0}\n");
}

TEST_CASE("imap parser: LITERAL+ needs no continuation") {
  CHECK(parse("a APPEND box (\\Seen) \"1-Jan-2024 00:00:00 +0000\" {5+}\r\nhello\r\n") ==
        "CMD a APPEND box (\\Seen) \"1-Jan-2024 00:00:00 +0000\" {5}hello\n");
  CHECK(parse("a ID (\"name\" {3+}\r\nfoo \"v\" {0+}\r\n)\r\n") ==
        "CMD a ID (\"name\" {3}foo \"v\" {0})\n");
}

TEST_CASE("imap parser: literal8 and tilde atoms") {
  CHECK(parse("a APPEND box (BINARY ~{4}\r\n\0\x01\r\n)\r\n"sv) ==
        "+ 4\nCMD a APPEND box (BINARY ~{4}\\0\x01\\r\\n)\n");
  CHECK(parse("a APPEND box ~{2+}\r\nab\r\n") == "CMD a APPEND box ~{2}ab\n");
  CHECK(parse("a SELECT ~peter ~\r\n") == "CMD a SELECT ~peter ~\n");
  CHECK(parse("a X (~)\r\n") == "CMD a X (~)\n");
}

TEST_CASE("imap parser: FETCH sections stay one token") {
  CHECK(parse("a FETCH 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)\r\n") ==
        "CMD a FETCH 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)\n");
  CHECK(
      parse(
          "a UID fetch 4 (BODY[1.2.MIME] BINARY[1] BODY[] BODY[HEADER.FIELDS.NOT (\"X\")])\r\n") ==
      "CMD a UID fetch 4 (BODY[1.2.MIME] BINARY[1] BODY[] BODY[HEADER.FIELDS.NOT (\"X\")])\n");
  CHECK(parse("a FETCH 1 BODY[HEADER.FIELDS (A B)]<0.10>\r\n") ==
        "CMD a FETCH 1 BODY[HEADER.FIELDS (A B)]<0.10>\n");
  CHECK(parse("a LIST \"\" [Gmail]/% x[a[b]c]d\r\n") == "CMD a LIST \"\" [Gmail]/% x[a[b]c]d\n");
}

TEST_CASE("imap parser: nested lists, flags and NIL") {
  CHECK(parse("a X (a (b (c)) () NIL \"NIL\" NILS)\r\n") ==
        "CMD a X (a (b (c)) () NIL<NIL> \"NIL\" NILS)\n");
  CHECK(parse("a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted $Junk)\r\n") ==
        "CMD a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted $Junk)\n");
}

TEST_CASE("imap parser: pipelining, empty lines, bare LF, trailing space") {
  CHECK(parse("\r\na NOOP\r\n\r\n\nb CAPABILITY\nc LOGOUT \r\n") ==
        "CMD a NOOP\nCMD b CAPABILITY\nCMD c LOGOUT\n");
  CHECK(parse("a] noop\r\n") == "CMD a] NOOP\n");
}

TEST_CASE("imap parser: syntax errors skip the line and the next command parses") {
  CHECK(parse(" a NOOP\r\nb NOOP\r\n") == "ERR syntax tag= line starts with a space\nCMD b NOOP\n");
  CHECK(parse("+ NOOP\r\n* NOOP\r\nb NOOP\r\n") ==
        "ERR syntax tag= bad tag\nERR syntax tag= bad tag\nCMD b NOOP\n");
  CHECK(parse("a\r\na \r\na  NOOP\r\nb NOOP\r\n") ==
        "ERR syntax tag=a missing command name\nERR syntax tag=a missing command name\n"
        "ERR syntax tag=a bad command name\nCMD b NOOP\n");
  CHECK(parse("a(b NOOP\r\nb NOOP\r\n") == "ERR syntax tag= bad character in tag\nCMD b NOOP\n");
  CHECK(parse("a NO\rOP\r\nb NOOP\r\n") == "ERR syntax tag=a CR without LF\nCMD b NOOP\n");
  CHECK(parse("a LOGIN \"x\r\nb NOOP\r\n") == "ERR syntax tag=a missing '\"'\nCMD b NOOP\n");
  CHECK(parse("a LOGIN \"x\\y\" z\r\nb NOOP\r\n") ==
        "ERR syntax tag=a bad escape in quoted string\nCMD b NOOP\n");
  CHECK(parse("a LOGIN \"x\0\"\r\nb NOOP\r\n"sv) ==
        "ERR syntax tag=a NUL in quoted string\nCMD b NOOP\n");
  CHECK(parse("a X )\r\na X (a\r\na X a  b\r\nb NOOP\r\n") ==
        "ERR syntax tag=a unexpected ')'\nERR syntax tag=a missing ')'\n"
        "ERR syntax tag=a unexpected space\nCMD b NOOP\n");
  CHECK(parse("a X \xc3\xa9\r\na X ab{3}\r\na X \"q\"x\r\nb NOOP\r\n") ==
        "ERR syntax tag=a unexpected character\nERR syntax tag=a bad character in atom\n"
        "ERR syntax tag=a expected a space\nCMD b NOOP\n");
  CHECK(parse("a FETCH 1 BODY[HEADER\r\na X B[\x01]\r\nb NOOP\r\n") ==
        "ERR syntax tag=a missing ']'\nERR syntax tag=a bad character in section\nCMD b NOOP\n");
}

TEST_CASE("imap parser: bad literal headers") {
  CHECK(parse("a X {3}x\r\nb NOOP\r\n") ==
        "ERR syntax tag=a literal header must end the line\nCMD b NOOP\n");
  CHECK(parse("a X {}\r\na X {+}\r\na X {3+x}\r\na X {3\r\nb NOOP\r\n") ==
        "ERR syntax tag=a bad literal header\nERR syntax tag=a bad literal header\n"
        "ERR syntax tag=a bad literal header\nERR syntax tag=a bad literal header\nCMD b NOOP\n");
  CHECK(parse("a X {99999999999999999999}\r\nb NOOP\r\n") ==
        "ERR syntax tag=a literal size out of range\nCMD b NOOP\n");
  CHECK(parse("a X {2}\r\nabc\r\nb NOOP\r\n") ==
        "+ 2\nERR syntax tag=a expected a space\nCMD b NOOP\n");
}

TEST_CASE("imap parser: a literal announced on a bad line") {
  // Non-synchronising: the client sends it anyway, so its bytes are skipped,
  // even when they look like commands.
  CHECK(parse("a X ) {8+}\r\nc DELETE\r\nd NOOP\r\n") ==
        "ERR syntax tag=a unexpected ')'\nCMD d NOOP\n");
  CHECK(parse("a X) {1+}\r\n\n {2+}\r\n\r\n\r\nd NOOP\r\n") ==
        "ERR syntax tag=a bad command name\nCMD d NOOP\n");
  // Synchronising: the client waits for a "+" that never comes.
  CHECK(parse("a X ) {5}\r\nb NOOP\r\n") == "ERR syntax tag=a unexpected ')'\nCMD b NOOP\n");
}

TEST_CASE("imap parser: line too long is skipped, not buffered") {
  ImapLimits limits;
  limits.max_line = 32;
  limits.max_literal = 20;  // parse() checks that at most 52 bytes are ever held
  const std::string longline = "a X " + std::string(200, 'x') + " {4+}\r\nc D\n\r\n";
  CHECK(parse(longline + "b NOOP\r\n", limits) ==
        "ERR line_too_long tag=a line too long\nCMD b NOOP\n");
  // The limit counts command text over all the lines of a command, not literals.
  const std::string y20(20, 'y');
  CHECK(parse("a X {20+}\r\n01234567890123456789 (" + y20 + ")\r\n", limits) ==
        "CMD a X {20}01234567890123456789 (" + y20 + ")\n");
  CHECK(parse("a X {20+}\r\n01234567890123456789 (y" + y20 + ")\r\nb NOOP\r\n", limits) ==
        "ERR line_too_long tag=a line too long\nCMD b NOOP\n");
  // A literal announced on the long line's last stretch still counts.
  CHECK(parse(std::string(40, 'x') + " {3+}\r\n\n\n\n\r\nb NOOP\r\n", limits) ==
        "ERR line_too_long tag= line too long\nCMD b NOOP\n");
}

TEST_CASE("imap parser: literal too large") {
  ImapLimits limits;
  limits.max_line = 64;
  limits.max_literal = 10;  // parse() checks that at most 74 bytes are ever held
  // Synchronising: refused without "+", and the command ends there.
  CHECK(parse("a APPEND box {11}\r\nb NOOP\r\n", limits) ==
        "ERR literal_too_large tag=a literal too large size=11\nCMD b NOOP\n");
  // Non-synchronising: its bytes are counted off unbuffered, then the rest of the command.
  std::string commands;
  for (int i = 0; i < 20; ++i) commands += "c DELETE INBOX\r\n";
  CHECK(parse("a APPEND box {330+}\r\n" + commands + "d DEL (x)\r\nb NOOP\r\n", limits) ==
        "ERR literal_too_large tag=a literal too large size=330\nCMD b NOOP\n");
  // The limit covers the sum of one command's literals.
  CHECK(parse("a X {6+}\r\n123456 {4+}\r\n1234\r\nb X {6+}\r\n123456 {5}\r\nb NOOP\r\n", limits) ==
        "CMD a X {6}123456 {4}1234\nERR literal_too_large tag=b literal too large size=5\n"
        "CMD b NOOP\n");
}

TEST_CASE("imap parser: nesting and token limits") {
  ImapLimits limits;
  limits.max_depth = 2;
  CHECK(parse("a X ((a))\r\nb X (((a)))\r\nc NOOP\r\n", limits) ==
        "CMD a X ((a))\nERR too_deep tag=b lists nested too deeply\nCMD c NOOP\n");
  limits = ImapLimits{};
  limits.max_tokens = 3;
  CHECK(parse("a X 1 (2)\r\nb X 1 2 3 4\r\nc X (1 \"2\" {1+}\r\n3)\r\nd NOOP\r\n", limits) ==
        "CMD a X 1 (2)\nERR too_many_tokens tag=b too many tokens\n"
        "ERR too_many_tokens tag=c too many tokens\nCMD d NOOP\n");
}

TEST_CASE("imap parser: expect_line for IDLE and AUTHENTICATE") {
  CHECK(parse("a IDLE\r\nDONE\r\nb NOOP\r\n") == "CMD a IDLE\nLINE DONE\nCMD b NOOP\n");
  CHECK(parse("a AUTHENTICATE PLAIN\r\nAGFsaWNlAHB3 (\"{5}\r\n\nb NOOP\n") ==
        "CMD a AUTHENTICATE PLAIN\nLINE AGFsaWNlAHB3 (\"{5}\nCMD b NOOP\n");
  CHECK(parse("a IDLE\r\n\r\nb NOOP\r\n") == "CMD a IDLE\nLINE \nCMD b NOOP\n");
  ImapLimits limits;
  limits.max_line = 8;
  // A raw line never announces a literal: the bytes after it are a command.
  CHECK(parse("a IDLE\r\nDONEDONEDONE {3+}\r\nb NOOP\r\n", limits) ==
        "CMD a IDLE\nERR line_too_long tag= line too long\nCMD b NOOP\n");
  CHECK(parse("a IDLE\r\nDO\rNE\r\nb NOOP\r\n") ==
        "CMD a IDLE\nERR syntax tag= CR without LF\nCMD b NOOP\n");
}

TEST_CASE("imap parser: expect_line before the first line and mid-command") {
  // Before anything arrives: the first line is raw. Called mid-command (after the
  // Continuation, event 2), it applies to the line after that command.
  CHECK(parse("+ not a command\r\na X {1}\r\nx\r\nb NOOP\r\nc NOOP\r\n", {}, {0, 2}) ==
        "LINE + not a command\n+ 1\nCMD a X {1}x\nLINE b NOOP\nCMD c NOOP\n");
  // After an error, on the line after the one skipped.
  CHECK(parse("a X ) y\r\nDONE\r\nb NOOP\r\n", {}, {1}) ==
        "ERR syntax tag=a unexpected ')'\nLINE DONE\nCMD b NOOP\n");
}

TEST_CASE("imap parser: memory stays bounded on a long line") {
  ImapLimits limits;
  limits.max_line = 64;
  limits.max_literal = 0;  // parse() checks that at most 64 bytes are ever held
  CHECK(parse("a X " + std::string(3000, 'x') + "\r\nb NOOP\r\n", limits) ==
        "ERR line_too_long tag=a line too long\nCMD b NOOP\n");
}
