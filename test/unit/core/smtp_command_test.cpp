#include "core/smtp_command.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/unit/split_feed.hpp"

using postern::core::smtp::Command;
using postern::core::smtp::LineCodec;
using postern::core::smtp::LineEvent;
using postern::core::smtp::LineLimits;
using postern::core::smtp::LineStatus;
using postern::core::smtp::parse_command;
using postern::core::smtp::parse_xclient;
using postern::core::smtp::Verb;
using postern::core::smtp::XclientAttribute;
using postern::core::smtp::xtext_decode;
using namespace std::literals;

namespace {

// Feeds the chunks through one codec and summarises the events, one a line.
std::string run_codec(const std::vector<std::string_view>& chunks, LineLimits limits = {}) {
  LineCodec codec(limits);
  std::string out;
  for (std::string_view chunk : chunks) {
    while (!chunk.empty()) {
      const LineEvent ev = codec.feed(chunk);
      REQUIRE(ev.consumed > 0);
      REQUIRE(ev.consumed <= chunk.size());
      REQUIRE(codec.buffered_bytes() <= limits.max_line);
      chunk.remove_prefix(ev.consumed);
      if (ev.status == LineStatus::Line) out += "line[" + ev.line + "]\n";
      if (ev.status == LineStatus::Error) out += "error " + std::to_string(ev.error.code) + "\n";
      if (ev.status == LineStatus::NeedMore) REQUIRE(chunk.empty());
    }
  }
  return out;
}

int error_code(std::string_view line) {
  auto r = parse_command(line);
  return r ? 0 : r.error().code;
}

Command ok(std::string_view line) {
  auto r = parse_command(line);
  INFO(line);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().text));
  return *r;
}

}  // namespace

TEST_CASE("smtp line codec: CRLF and bare LF, split at every byte") {
  const std::string input = "EHLO a.example\r\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\r\n\r\nDATA\r\n";
  const std::string want =
      "line[EHLO a.example]\nline[MAIL FROM:<a@b>]\nline[RCPT TO:<c@d>]\n"
      "line[]\nline[DATA]\n";
  CHECK(run_codec({input}) == want);
  CHECK(postern::test::check_split_invariance(input, [](const auto& c) { return run_codec(c); }) ==
        "");
}

TEST_CASE("smtp line codec: over-long line reported once, not buffered, then recovery") {
  LineLimits limits{16};
  // 14 text octets + CRLF = 16: exactly at the limit.
  const std::string exact = "NOOP 123456789\r\n";
  CHECK(run_codec({exact}, limits) == "line[NOOP 123456789]\n");
  const std::string input = "NOOP 1234567890\r\n" + std::string(5000, 'x') + "\r\nQUIT\r\n";
  CHECK(run_codec({input}, limits) == "error 500\nerror 500\nline[QUIT]\n");
  auto run = [&](const auto& c) { return run_codec(c, limits); };
  CHECK(postern::test::check_split_invariance(input, run) == "");
  // A CR that is content, not the start of CRLF, counts.
  CHECK(run_codec({"NOOP 123456789\r\r\n"}, limits) == "error 500\n");
  // Default limit: 512 including CRLF.
  CHECK(run_codec({std::string(510, 'a') + "\r\n"}) == "line[" + std::string(510, 'a') + "]\n");
  CHECK(run_codec({std::string(511, 'a') + "\r\n"}) == "error 500\n");
}

TEST_CASE("smtp line codec: NUL is an error for its line only") {
  const std::string input = "HELO a\0b\r\nNOOP\r\n"s;
  CHECK(run_codec({input}) == "error 500\nline[NOOP]\n");
  CHECK(postern::test::check_split_invariance(input, [](const auto& c) { return run_codec(c); }) ==
        "");
  LineCodec codec;
  auto ev = codec.feed("\0\n"sv);
  CHECK(ev.kind == LineEvent::ErrorKind::Nul);
}

TEST_CASE("smtp command: verbs are case-insensitive, argument-free verbs") {
  CHECK(ok("ehlo client.example").verb == Verb::Ehlo);
  CHECK(ok("EHLO client.example").argument == "client.example");
  CHECK(ok("HeLo [192.0.2.1]").verb == Verb::Helo);
  CHECK(ok("DATA").verb == Verb::Data);
  CHECK(ok("rset").verb == Verb::Rset);
  CHECK(ok("QUIT").verb == Verb::Quit);
  CHECK(ok("StartTLS").verb == Verb::Starttls);
  CHECK(ok("NOOP").verb == Verb::Noop);
  CHECK(ok("NOOP anything at all").argument == "anything at all");
  CHECK(ok("HELP").verb == Verb::Help);
  CHECK(ok("HELP MAIL").argument == "MAIL");
  CHECK(ok("VRFY alice").argument == "alice");
  CHECK(ok("EXPN staff").verb == Verb::Expn);
  CHECK(ok("AUTH PLAIN AGFsaWNlAHNlY3JldA==").argument == "PLAIN AGFsaWNlAHNlY3JldA==");
  CHECK(ok("DATA ").verb == Verb::Data);  // trailing space tolerated
}

TEST_CASE("smtp command: errors name the reply") {
  CHECK(error_code("") == 500);
  CHECK(error_code("FOO bar") == 500);
  CHECK(parse_command("FOO").error().enhanced == "5.5.2");
  CHECK(error_code("EHLOX a") == 500);
  CHECK(error_code("EHLO") == 501);
  CHECK(error_code("HELO a b") == 501);
  CHECK(error_code("DATA x") == 501);
  CHECK(error_code("QUIT now") == 501);
  CHECK(error_code("STARTTLS x") == 501);
  CHECK(error_code("RSET x") == 501);
  CHECK(error_code("VRFY") == 501);
  CHECK(error_code("EXPN") == 501);
  CHECK(error_code("AUTH") == 501);
  CHECK(parse_command("RSET x").error().enhanced == "5.5.4");
  auto bdat = parse_command("BDAT 100 LAST");
  REQUIRE(!bdat);
  CHECK(bdat.error().code == 502);
  CHECK(bdat.error().enhanced == "5.5.1");
}

TEST_CASE("smtp command: MAIL FROM paths") {
  auto c = ok("MAIL FROM:<alice@example.com>");
  CHECK(c.verb == Verb::Mail);
  CHECK(c.path.local_part == "alice");
  CHECK(c.path.domain == "example.com");
  CHECK(c.path.address() == "alice@example.com");
  CHECK(c.parameters.empty());
  CHECK(ok("mail from:<>").path.null);
  CHECK(ok("MAIL FROM:<>").path.address() == "");
  CHECK(ok("MAIL FROM: <a@b.example>").path.address() == "a@b.example");  // Postfix leniency
  CHECK(ok("MAIL FROM:<a@b.example>  ").path.address() == "a@b.example");
  CHECK(ok("MAIL FROM:<@relay.example,@r2.example:joe@d.example>").path.address() ==
        "joe@d.example");
  CHECK(ok("MAIL FROM:<@relay.example:joe@d.example>").path.address() == "joe@d.example");
  CHECK(ok("MAIL FROM:<\"john smith\"@example.com>").path.local_part == "\"john smith\"");
  CHECK(ok("MAIL FROM:<\"a\\\"b>c\"@example.com>").path.local_part == "\"a\\\"b>c\"");
  CHECK(ok("MAIL FROM:<user@[192.0.2.1]>").path.domain == "[192.0.2.1]");
  CHECK(ok("MAIL FROM:<user@[IPv6:2001:db8::1]>").path.domain == "[IPv6:2001:db8::1]");
  CHECK(ok("MAIL FROM:<first.last+tag@sub.example.com>").path.local_part == "first.last+tag");
  auto u = ok("MAIL FROM:<用户@例子.广告> SMTPUTF8");
  CHECK(u.path.utf8);
  CHECK(u.path.domain == "例子.广告");
  CHECK_FALSE(ok("MAIL FROM:<a@b.example>").path.utf8);
}

TEST_CASE("smtp command: bad MAIL/RCPT paths are 501") {
  for (const char* line : {
           "MAIL",
           "MAIL FROM",
           "MAIL TO:<a@b>",
           "MAIL FROM:a@b",
           "MAIL FROM:<a@b",
           "MAIL FROM:<a>",
           "MAIL FROM:<@b>",
           "MAIL FROM:<a@>",
           "MAIL FROM:<.a@b>",
           "MAIL FROM:<a..b@c>",
           "MAIL FROM:<a.@b>",
           "MAIL FROM:<a@b..c>",
           "MAIL FROM:<a@-b.c>",
           "MAIL FROM:<a@b_c>",
           "MAIL FROM:<a@[1.2.3]>",
           "MAIL FROM:<a@[1.2.3.400]>",
           "MAIL FROM:<a@[IPv6:zz::1]>",
           "MAIL FROM:<a@[foo:bar]>",
           "MAIL FROM:<\"\"@b>",
           "MAIL FROM:<\"abc@b>",
           "MAIL FROM:<a b@c>",
           "MAIL FROM:<a@b>x",
           "MAIL FROM:<@r:>",
           "MAIL FROM:<@r.example,x:a@b>",
           "MAIL FROM:<@-r:a@b>",
           "RCPT TO:<>",
           "RCPT FROM:<a@b>",
           "RCPT TO:<a@b",
           "MAIL FROM:<\xff@b>",
           "MAIL FROM:<\xc3\x28@b>",
           "RCPT TO:<admin@>",
           "MAIL FROM:<postmaster>",
       }) {
    INFO(line);
    CHECK(error_code(line) == 501);
  }
  CHECK(error_code(("MAIL FROM:<" + std::string(65, 'a') + "@b.example>")) == 553);
}

TEST_CASE("smtp command: RCPT TO paths") {
  auto c = ok("RCPT TO:<bob@example.org>");
  CHECK(c.verb == Verb::Rcpt);
  CHECK(c.path.address() == "bob@example.org");
  CHECK(ok("rcpt to:<Postmaster>").path.postmaster);
  CHECK(ok("RCPT TO:<postmaster>").path.address() == "postmaster");
  auto pm = ok("RCPT TO:<Postmaster@example.org>");
  CHECK_FALSE(pm.path.postmaster);
  CHECK(pm.path.domain == "example.org");
  CHECK(ok("RCPT TO: <bob@example.org>").path.address() == "bob@example.org");
  // Unqualified recipients are left for the session to complete; senders are not.
  auto bare = ok("RCPT TO:<alice>");
  CHECK(bare.path.domain.empty());
  CHECK_FALSE(bare.path.postmaster);
  CHECK(bare.path.address() == "alice");
  CHECK(error_code("MAIL FROM:<alice>") == 501);
  CHECK(error_code("RCPT TO:<alice") == 501);
}

TEST_CASE("smtp command: ESMTP parameters") {
  auto c =
      ok("MAIL FROM:<a@b.example> SIZE=12345 BODY=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ+2B1 "
         "AUTH=<>");
  REQUIRE(c.parameters.size() == 6);
  CHECK(c.parameters[0].keyword == "SIZE");
  CHECK(*c.parameters[0].value == "12345");
  CHECK(c.parameters[1].keyword == "BODY");
  CHECK(c.parameters[2].keyword == "SMTPUTF8");
  CHECK_FALSE(c.parameters[2].value.has_value());
  CHECK(ok("mail from:<> size=0 body=7BIT").parameters[0].keyword == "SIZE");
  CHECK(ok("MAIL FROM:<a@b> AUTH=alice+40example.com").parameters.size() == 1);
  auto r = ok("RCPT TO:<x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+40y");
  REQUIRE(r.parameters.size() == 2);
  CHECK(*r.parameters[0].value == "SUCCESS,FAILURE");
  CHECK(ok("RCPT TO:<x@y> NOTIFY=never").parameters.size() == 1);
  CHECK(ok("RCPT TO:<x@y> NOTIFY=DELAY").parameters.size() == 1);
}

TEST_CASE("smtp command: parameter errors") {
  // 501: syntax of a known parameter.
  for (const char* line : {
           "MAIL FROM:<a@b> SIZE=",
           "MAIL FROM:<a@b> SIZE=12a",
           "MAIL FROM:<a@b> SIZE",
           "MAIL FROM:<a@b> BODY=9BIT",
           "MAIL FROM:<a@b> SMTPUTF8=yes",
           "MAIL FROM:<a@b> RET=ALL",
           "MAIL FROM:<a@b> ENVID=a+zz",
           "MAIL FROM:<a@b> SIZE=1 SIZE=2",
           "MAIL FROM:<a@b> =x",
           "MAIL FROM:<a@b> -X=1",
           "MAIL FROM:<a@b> S_Z=1",
           "MAIL FROM:<a@b> SIZE=1=2",
           "RCPT TO:<a@b> NOTIFY=NEVER,DELAY",
           "RCPT TO:<a@b> NOTIFY=SUCCESS,SUCCESS",
           "RCPT TO:<a@b> NOTIFY=",
           "RCPT TO:<a@b> ORCPT=rfc822",
           "RCPT TO:<a@b> ORCPT=;a",
           "RCPT TO:<a@b> ORCPT=r f;a",
       }) {
    INFO(line);
    CHECK(error_code(line) == 501);
  }
  // 555: a parameter not known here, or on the wrong command.
  CHECK(error_code("MAIL FROM:<a@b> FOO=bar") == 555);
  CHECK(parse_command("MAIL FROM:<a@b> FOO").error().enhanced == "5.5.4");
  CHECK(error_code("MAIL FROM:<a@b> NOTIFY=NEVER") == 555);
  CHECK(error_code("RCPT TO:<a@b> SIZE=10") == 555);
  // 504: a known value this server does not support.
  CHECK(error_code("MAIL FROM:<a@b> BODY=BINARYMIME") == 504);
}

TEST_CASE("smtp xtext") {
  CHECK(*xtext_decode("abc") == "abc");
  CHECK(*xtext_decode("a+2Bb+3D") == "a+b=");
  CHECK(*xtext_decode("") == "");
  CHECK_FALSE(xtext_decode("a+2").has_value());
  CHECK_FALSE(xtext_decode("a+2b").has_value());  // upper-case hex only
  CHECK_FALSE(xtext_decode("a=b").has_value());
  CHECK_FALSE(xtext_decode("a b").has_value());
}

TEST_CASE("smtp XCLIENT attributes") {
  auto c =
      ok("XCLIENT NAME=mail.example ADDR=192.0.2.7 PORT=4711 PROTO=ESMTP HELO=client "
         "LOGIN=alice+40example.com DESTADDR=IPV6:2001:db8::2 DESTPORT=25");
  CHECK(c.verb == Verb::Xclient);
  REQUIRE(c.xclient.size() == 8);
  CHECK(c.xclient[0].name == XclientAttribute::Name::Name);
  CHECK(c.xclient[1].value == "192.0.2.7");
  CHECK(c.xclient[5].name == XclientAttribute::Name::Login);
  CHECK(c.xclient[5].value == "alice@example.com");
  CHECK(c.xclient[6].name == XclientAttribute::Name::DestAddr);
  CHECK(c.xclient[7].name == XclientAttribute::Name::DestPort);
  auto u = parse_xclient("name=[UNAVAILABLE] helo=[TEMPUNAVAIL]");
  REQUIRE(u);
  CHECK((*u)[0].state == XclientAttribute::State::Unavailable);
  CHECK((*u)[1].state == XclientAttribute::State::TempUnavailable);
  CHECK((*u)[1].value.empty());
  for (const char* line :
       {"XCLIENT", "XCLIENT FOO=bar", "XCLIENT NAME", "XCLIENT NAME=", "XCLIENT ADDR=300.1.1.1",
        "XCLIENT PORT=65536", "XCLIENT PORT=x", "XCLIENT PROTO=LMTP", "XCLIENT LOGIN=a+zz"}) {
    INFO(line);
    CHECK(error_code(line) == 501);
  }
}

TEST_CASE("smtp command lines from the codec, split at every byte") {
  const std::string input =
      "EHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\nRCPT TO:<Postmaster>\r\n"
      "BDAT 1\r\nbogus\r\nDATA\r\n";
  auto run = [](const std::vector<std::string_view>& chunks) {
    LineCodec codec;
    std::string out;
    for (std::string_view chunk : chunks) {
      while (!chunk.empty()) {
        LineEvent ev = codec.feed(chunk);
        chunk.remove_prefix(ev.consumed);
        if (ev.status != LineStatus::Line) continue;
        auto cmd = parse_command(ev.line);
        out += cmd ? std::string(postern::core::smtp::verb_name(cmd->verb))
                   : std::to_string(cmd.error().code);
        out += "\n";
      }
    }
    return out;
  };
  CHECK(run({input}) == "EHLO\nMAIL\nRCPT\n502\n500\nDATA\n");
  CHECK(postern::test::check_split_invariance(input, run) == "");
}
