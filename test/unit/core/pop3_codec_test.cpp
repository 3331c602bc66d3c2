#include "core/pop3_codec.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/unit/split_feed.hpp"

using postern::core::pop3::CodecLimits;
using postern::core::pop3::CodecStatus;
using postern::core::pop3::Pop3Codec;
using postern::core::pop3::split_command;
using namespace std::literals;

namespace {

// Feeds the chunks and prints one line per event. After "AUTH" with one
// argument the session would ask for a raw line; so does this driver.
std::string run(const std::vector<std::string_view>& chunks, CodecLimits limits = {}) {
  Pop3Codec codec(limits);
  std::string out;
  for (std::string_view in : chunks) {
    while (!in.empty()) {
      auto r = codec.feed(in);
      REQUIRE(r.consumed <= in.size());
      if (r.status == CodecStatus::NeedMore) {
        REQUIRE(r.consumed == in.size());
      } else {
        REQUIRE(r.consumed > 0);
      }
      REQUIRE(codec.buffered_bytes() <= std::max(limits.max_command, limits.max_auth_line) + 1);
      in.remove_prefix(r.consumed);
      switch (r.status) {
        case CodecStatus::NeedMore:
          break;
        case CodecStatus::Command:
          out += "cmd[" + r.command.name + "]";
          for (const auto& a : r.command.args) out += "<" + a + ">";
          out += "rest<" + r.command.rest + ">\n";
          if (r.command.name == "AUTH" && r.command.args.size() == 1) codec.expect_line();
          break;
        case CodecStatus::Line:
          out += "line<" + r.line + ">\n";
          break;
        case CodecStatus::TooLong:
          out += "too_long\n";
          break;
      }
    }
  }
  return out;
}

void check_split(std::string_view input, CodecLimits limits = {}) {
  auto err = postern::test::check_split_invariance(
      input, [&](const std::vector<std::string_view>& chunks) { return run(chunks, limits); });
  CHECK_MESSAGE(err.empty(), err);
}

}  // namespace

TEST_CASE("pop3 codec: a session's commands, however the bytes arrive") {
  const std::string session =
      "capa\r\nUSER alice@example.com\r\nPASS secret with  spaces\r\nSTAT\r\nLIST 1\r\n"
      "top 1 10\nRETR 2\r\n\r\nuidl\r\nQUIT\r\n";
  CHECK(run({session}) ==
        "cmd[CAPA]rest<>\n"
        "cmd[USER]<alice@example.com>rest<alice@example.com>\n"
        "cmd[PASS]<secret><with><spaces>rest<secret with  spaces>\n"
        "cmd[STAT]rest<>\n"
        "cmd[LIST]<1>rest<1>\n"
        "cmd[TOP]<1><10>rest<1 10>\n"
        "cmd[RETR]<2>rest<2>\n"
        "cmd[]rest<>\n"
        "cmd[UIDL]rest<>\n"
        "cmd[QUIT]rest<>\n");
  check_split(session);
}

TEST_CASE("pop3 codec: AUTH continuation lines are raw, with their own limit") {
  CodecLimits limits{16, 40};
  const std::string input = "AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n*\r\nAUTH PLAIN\r\n" +
                            std::string(41, 'A') + "\r\nNOOP\r\n";
  CHECK(run({input}, limits) ==
        "cmd[AUTH]<PLAIN>rest<PLAIN>\n"
        "line<AGFsaWNlAHNlY3JldA==>\n"
        "cmd[*]rest<>\n"
        "cmd[AUTH]<PLAIN>rest<PLAIN>\n"
        "too_long\n"
        "cmd[NOOP]rest<>\n");
  check_split(input, limits);
}

TEST_CASE("pop3 codec: over-long lines are reported once and skipped") {
  CodecLimits limits{8, 8};
  // 8 bytes of content fit, with or without CR; 9 do not.
  const std::string input = "12345678\r\n12345678\n123456789\r\n123456789\n1234567\r\r\nNOOP\r\n" +
                            std::string(100, 'x') + "\r\nSTAT\r\n";
  CHECK(run({input}, limits) ==
        "cmd[12345678]rest<>\n"
        "cmd[12345678]rest<>\n"
        "too_long\n"
        "too_long\n"
        "cmd[1234567\r]rest<>\n"
        "cmd[NOOP]rest<>\n"
        "too_long\n"
        "cmd[STAT]rest<>\n");
  check_split(input, limits);
}

TEST_CASE("pop3 codec: the limit is reached at a fixed byte") {
  CodecLimits limits{4, 4};
  for (std::string input : {"abcd\r"s, "abcdef"s, "abcd\rx"s, "abcd\r\r\n"s, "\r\r\r\r\r\r\n"s}) {
    INFO(input);
    check_split(input + "\r\nNOOP\r\n", limits);
  }
}

TEST_CASE("pop3 codec: reset forgets a partial line and raw mode (STLS)") {
  Pop3Codec codec;
  CHECK(codec.feed("USER ali").status == CodecStatus::NeedMore);
  codec.expect_line();
  codec.reset();
  auto r = codec.feed("CAPA\r\n");
  CHECK(r.status == CodecStatus::Command);
  CHECK(r.command.name == "CAPA");
}

TEST_CASE("pop3 codec: split_command") {
  auto c = split_command("uIdL  7 ");
  CHECK(c.name == "UIDL");
  CHECK(c.args == std::vector<std::string>{"7"});
  CHECK(c.rest == " 7 ");
  c = split_command("PASS  two  words ");
  CHECK(c.rest == " two  words ");
  CHECK(split_command("").name.empty());
  CHECK(split_command("NOOP").args.empty());
  CHECK(split_command("\xff\x01 x").name == "\xff\x01");
}
