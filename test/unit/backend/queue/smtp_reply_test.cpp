// The client's reply parser and DATA encoder, each input replayed split at
// every byte (STYLE.md rule 2).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "backend/queue/dot_stuffer.hpp"
#include "backend/queue/smtp_reply.hpp"
#include "test/unit/split_feed.hpp"

// In the namespace rather than `using namespace`: in a unity build, a
// neighbouring file may name the same types.
namespace postern::node::queue {

namespace {

// Every event the parser reports for the chunks, one per line.
std::string parse_all(const std::vector<std::string_view>& chunks, ReplyLimits limits = {}) {
  ReplyParser parser(limits);
  std::string out;
  for (auto chunk : chunks) {
    while (!chunk.empty()) {
      ReplyEvent ev = parser.feed(chunk);
      chunk.remove_prefix(ev.consumed);
      if (ev.status == ReplyStatus::Reply) {
        out += std::to_string(ev.reply.code) + "|" + std::to_string(ev.reply.lines.size()) + "|" +
               ev.reply.to_string() + "\n";
      } else if (ev.status == ReplyStatus::Error) {
        return out + "error: " + ev.error + "\n";
      }
    }
  }
  return out;
}

std::string stuff_all(const std::vector<std::string_view>& chunks) {
  DotStuffer s;
  std::string out;
  for (auto c : chunks) out += s.feed(c);
  return out + s.finish();
}

}  // namespace

TEST_CASE("reply parser: single and multi-line replies, any split") {
  const std::string input =
      "220-mx.example.org ESMTP\r\n220-second line\r\n220 ready\r\n"
      "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"
      "550 5.1.1 <bob@example.org> no such user\r\n"
      "354\n"
      "451 4.3.0 try later\r\n";
  const std::string expected =
      "220|3|220 mx.example.org ESMTP second line ready\n"
      "250|4|250 mx.example.org PIPELINING SIZE 1000 8BITMIME\n"
      "550|1|550 5.1.1 <bob@example.org> no such user\n"
      "354|1|354\n"
      "451|1|451 4.3.0 try later\n";
  CHECK(parse_all({input}) == expected);
  CHECK(postern::test::check_split_invariance(input, [](const auto& c) { return parse_all(c); }) ==
        "");
}

TEST_CASE("reply parser: garbage, bad codes and over-long lines are errors") {
  CHECK(parse_all({"hello there\r\n"}).rfind("error: not an SMTP reply", 0) == 0);
  CHECK(parse_all({"2500 x\r\n"}).rfind("error:", 0) == 0);
  CHECK(parse_all({"650 x\r\n"}).rfind("error:", 0) == 0);
  const std::string long_line = "250 " + std::string(100, 'x') + "\r\n250 ok\r\n";
  ReplyLimits small;
  small.max_line = 50;
  CHECK(parse_all({long_line}, small) == "error: reply line too long\n");
  CHECK(postern::test::check_split_invariance(
            long_line, [&](const auto& c) { return parse_all(c, small); }) == "");
  std::string many;
  for (int i = 0; i < 5; ++i) many += "250-x\r\n";
  ReplyLimits few;
  few.max_lines = 3;
  CHECK(parse_all({many}, few) == "error: reply has too many lines\n");
}

TEST_CASE("reply parser: control characters from the server are not passed on") {
  CHECK(parse_all({"550 bad\x01\x1b[31m\r\n"}) == "550|1|550 bad??[31m\n");
}

TEST_CASE("EHLO keywords") {
  SmtpReply r{250,
              {"mx.example.org hello", "pipelining", "SIZE 35882577", "8BITMIME", "SMTPUTF8", "DSN",
               "STARTTLS", "ENHANCEDSTATUSCODES"}};
  SmtpExtensions e = parse_ehlo(r);
  CHECK(e.pipelining);
  CHECK(e.size);
  CHECK(e.max_size == 35882577);
  CHECK(e.eight_bit_mime);
  CHECK(e.smtputf8);
  CHECK(e.dsn);
  CHECK(e.starttls);
  CHECK(e.enhanced_status_codes);
  // The greeting line is not a keyword, even if it looks like one.
  SmtpExtensions none = parse_ehlo(SmtpReply{250, {"STARTTLS"}});
  CHECK_FALSE(none.starttls);
}

TEST_CASE("dot stuffing: leading dots doubled, bare LF fixed, terminator added, any split") {
  const std::string input = ".start\r\nmiddle\r\n..two\r\n.\r\nbare\nlf\r\nend.";
  const std::string expected = "..start\r\nmiddle\r\n...two\r\n..\r\nbare\r\nlf\r\nend.\r\n.\r\n";
  CHECK(stuff_all({input}) == expected);
  CHECK(postern::test::check_split_invariance(input, stuff_all) == "");
  CHECK(stuff_all({""}) == ".\r\n");
  CHECK(stuff_all({"a\r\n"}) == "a\r\n.\r\n");
  CHECK(stuff_all({"a\r"}) == "a\r\n.\r\n");
}

}  // namespace postern::node::queue
