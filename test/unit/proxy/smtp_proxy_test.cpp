#include "proxy/smtp_proxy.hpp"

#include <doctest/doctest.h>

#include <string>

#include "core/smtp_command.hpp"

using postern::core::PeerAddress;
using postern::proxy::ProxySmtpConfig;
using postern::proxy::smtp_ehlo_reply;
using postern::proxy::SmtpReplyReader;
using postern::proxy::xclient_command;
using postern::proxy::xtext_encode;
namespace smtp = postern::core::smtp;

namespace {

PeerAddress peer(const char* ip, std::uint16_t port) {
  PeerAddress p;
  p.ip = *postern::core::IpAddress::parse(ip);
  p.port = port;
  return p;
}

ProxySmtpConfig smtp_config() {
  ProxySmtpConfig c;
  c.hostname = "mx.example.com";
  c.max_message_size = 1000;
  return c;
}

}  // namespace

TEST_CASE("smtp proxy: the EHLO reply lists what the node offers, STARTTLS and AUTH by state") {
  const auto c = smtp_config();
  CHECK(smtp_ehlo_reply(c, false, false) ==
        "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
        "250-DSN\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n");
  const std::string both = smtp_ehlo_reply(c, true, true);
  CHECK(both.find("250-STARTTLS\r\n") != std::string::npos);
  CHECK(both.find("250-AUTH PLAIN LOGIN\r\n") != std::string::npos);
  CHECK(both.find("XCLIENT") == std::string::npos);
  // STARTTLS comes before AUTH, as on the node.
  CHECK(both.find("STARTTLS") < both.find("AUTH"));
}

TEST_CASE("smtp proxy: xtext encodes '+', '=', spaces, controls and non-ASCII") {
  CHECK(xtext_encode("mail.example.com") == "mail.example.com");
  CHECK(xtext_encode("a+b=c d") == "a+2Bb+3Dc+20d");
  CHECK(xtext_encode(std::string("\x01\xc3\xa9", 3)) == "+01+C3+A9");
  CHECK(xtext_encode("") == "");
}

TEST_CASE("smtp proxy: the XCLIENT line carries the client and parses back to it") {
  const std::string line =
      xclient_command(peer("192.0.2.7", 40000), "[192.0.2.7]", true, "al+ice@example.com");
  CHECK(line ==
        "XCLIENT ADDR=192.0.2.7 PORT=40000 HELO=[192.0.2.7] PROTO=ESMTP "
        "LOGIN=al+2Bice@example.com\r\n");
  auto parsed = smtp::parse_command(line.substr(0, line.size() - 2));
  REQUIRE(parsed);
  REQUIRE(parsed->verb == smtp::Verb::Xclient);
  bool saw_login = false;
  for (const auto& a : parsed->xclient) {
    if (a.name == smtp::XclientAttribute::Name::Login) {
      saw_login = true;
      CHECK(a.value == "al+ice@example.com");
    }
    if (a.name == smtp::XclientAttribute::Name::Helo) CHECK(a.value == "[192.0.2.7]");
  }
  CHECK(saw_login);

  const std::string v6 = xclient_command(peer("2001:db8::1", 25), "h", false, "");
  CHECK(v6 == "XCLIENT ADDR=IPV6:2001:db8::1 PORT=25 HELO=h PROTO=SMTP\r\n");
  CHECK(smtp::parse_command(v6.substr(0, v6.size() - 2)));
}

TEST_CASE("smtp proxy: a HELO name too long for the node's line is sent as unavailable") {
  const std::string helo(3000, '+');  // triples when encoded
  const std::string line = xclient_command(peer("192.0.2.7", 1), helo, true, "");
  CHECK(line.find("HELO=[UNAVAILABLE]") != std::string::npos);
  CHECK(line.size() <= 4096);
  const std::string fits(1000, 'a');
  CHECK(xclient_command(peer("192.0.2.7", 1), fits, true, "").find(fits) != std::string::npos);
}

TEST_CASE("smtp proxy: replies from the node, single and multi-line") {
  SmtpReplyReader r;
  CHECK(r.feed("220 node1.example.com ESMTP Postern") == SmtpReplyReader::Status::Done);
  CHECK(r.code() == 220);
  CHECK(r.text() == "220 node1.example.com ESMTP Postern\r\n");
  r.reset();
  CHECK(r.feed("250-node1.example.com") == SmtpReplyReader::Status::More);
  CHECK(r.feed("250-PIPELINING") == SmtpReplyReader::Status::More);
  CHECK(r.feed("250-XCLIENT NAME ADDR PORT") == SmtpReplyReader::Status::More);
  CHECK(r.feed("250 starttls") == SmtpReplyReader::Status::Done);
  CHECK(r.code() == 250);
  CHECK(r.has_keyword("XCLIENT"));
  CHECK(r.has_keyword("STARTTLS"));
  CHECK_FALSE(r.has_keyword("PIPE"));
  CHECK_FALSE(r.has_keyword("AUTH"));
  CHECK(r.text() ==
        "250-node1.example.com\r\n250-PIPELINING\r\n250-XCLIENT NAME ADDR PORT\r\n"
        "250 starttls\r\n");
  r.reset();
  // A bare code ends a reply (RFC 5321 4.2.1 allows the text to be empty).
  CHECK(r.feed("250") == SmtpReplyReader::Status::Done);
  CHECK_FALSE(r.has_keyword("XCLIENT"));
}

TEST_CASE("smtp proxy: malformed node replies are refused, not guessed at") {
  auto one = [](std::string_view line) {
    SmtpReplyReader r;
    return r.feed(line);
  };
  CHECK(one("") == SmtpReplyReader::Status::Malformed);
  CHECK(one("25") == SmtpReplyReader::Status::Malformed);
  CHECK(one("2x0 ok") == SmtpReplyReader::Status::Malformed);
  CHECK(one("250/ok") == SmtpReplyReader::Status::Malformed);
  CHECK(one("150 ok") == SmtpReplyReader::Status::Malformed);
  CHECK(one("+OK pop3") == SmtpReplyReader::Status::Malformed);
  CHECK(one("* OK imap") == SmtpReplyReader::Status::Malformed);

  SmtpReplyReader mixed;
  CHECK(mixed.feed("250-a") == SmtpReplyReader::Status::More);
  CHECK(mixed.feed("550 b") == SmtpReplyReader::Status::Malformed);

  SmtpReplyReader endless;
  for (std::size_t i = 0; i < SmtpReplyReader::kMaxLines; ++i)
    REQUIRE(endless.feed("250-x") == SmtpReplyReader::Status::More);
  CHECK(endless.feed("250 x") == SmtpReplyReader::Status::Malformed);
}
