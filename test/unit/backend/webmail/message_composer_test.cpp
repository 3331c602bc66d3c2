// Messages the WebMail user sends: they must come back identical through our
// own MIME parser and message view (what the recipient's reader does), with
// CRLF line ends, no line over 998 octets and no header injection.
#include "backend/webmail/message_composer.hpp"

#include <doctest/doctest.h>

#include <string>

#include "backend/mime/message_parser.hpp"
#include "backend/webmail/mail_encoding.hpp"

using postern::node::mime::find_section;
using postern::node::mime::parse_message;
using postern::node::webmail::compose_message;
using postern::node::webmail::Composition;
using postern::node::webmail::decode_part_body;
using postern::node::webmail::encode_quoted_printable;
using postern::node::webmail::forward_subject;
using postern::node::webmail::MailAddress;
using postern::node::webmail::make_message_view;
using postern::node::webmail::MessageView;
using postern::node::webmail::parse_typed_addresses;
using postern::node::webmail::quote_body;
using postern::node::webmail::reply_subject;

namespace {

void check_wire_form(const std::string& m) {
  std::size_t line = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      REQUIRE_MESSAGE((i > 0 && m[i - 1] == '\r'), "bare LF at " << i);
      line = 0;
    } else if (m[i] == '\r') {
      REQUIRE_MESSAGE((i + 1 < m.size() && m[i + 1] == '\n'), "bare CR at " << i);
    } else {
      REQUIRE_MESSAGE(++line <= 998, "line too long at " << i);
    }
  }
  CHECK(m.ends_with("\r\n"));
}

std::string header_block(const std::string& m) {
  return m.substr(0, m.find("\r\n\r\n") + 2);
}

Composition sample() {
  Composition c;
  c.from = {"Alice Example", "alice@example.com"};
  c.to = {{"", "bob@example.com"}};
  c.subject = "Hello";
  c.body = "Hi Bob\n";
  c.domain = "example.com";
  c.date = "Sun, 22 Nov 2026 10:00:00 +0000";
  return c;
}

}  // namespace

TEST_CASE("composer: a plain ASCII message is 7bit with the usual header fields") {
  Composition c = sample();
  c.cc = {{"Carol", "carol@example.org"}};
  c.bcc = {{"Secret", "hidden@example.net"}};
  c.in_reply_to = "<orig@example.com>";
  c.references = "<a@example.com> <orig@example.com>";
  const auto out = compose_message(c);
  REQUIRE(out);
  check_wire_form(out->message);
  const std::string header = header_block(out->message);
  CHECK(header.find("Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n") != std::string::npos);
  CHECK(header.find("From: Alice Example <alice@example.com>\r\n") != std::string::npos);
  CHECK(header.find("To: bob@example.com\r\n") != std::string::npos);
  CHECK(header.find("Cc: Carol <carol@example.org>\r\n") != std::string::npos);
  CHECK(header.find("Subject: Hello\r\n") != std::string::npos);
  CHECK(header.find("MIME-Version: 1.0\r\n") != std::string::npos);
  CHECK(header.find("Content-Type: text/plain; charset=utf-8\r\n") != std::string::npos);
  CHECK(header.find("Content-Transfer-Encoding: 7bit\r\n") != std::string::npos);
  CHECK(header.find("In-Reply-To: <orig@example.com>\r\n") != std::string::npos);
  CHECK(header.find("References: <a@example.com> <orig@example.com>\r\n") != std::string::npos);
  CHECK(out->message.find("hidden@example.net") == std::string::npos);
  CHECK(out->message.find("Bcc") == std::string::npos);
  CHECK(out->message.ends_with("\r\n\r\nHi Bob\r\n"));
  CHECK(out->message_id.starts_with("<"));
  CHECK(out->message_id.ends_with("@example.com>"));
  CHECK(header.find("Message-ID: " + out->message_id + "\r\n") != std::string::npos);
  CHECK(out->recipients ==
        std::vector<std::string>{"bob@example.com", "carol@example.org", "hidden@example.net"});
}

TEST_CASE("composer: non-ASCII names, subject, body and file names round-trip") {
  Composition c = sample();
  c.from = {"J\u00f6rg M\u00fcller", "joerg@example.com"};
  c.to = {{"Fran\u00e7oise \"Fran\" D'Arc", "f@example.fr"},
          {"Doe, John", "john@example.com"},
          {"\u5f20\u4f1f", "zhang@example.cn"}};
  c.subject =
      "Gr\u00fc\u00dfe aus K\u00f6ln \u2013 a long subject with emoji \U0001F389 that needs "
      "several encoded words because it is long \u00e4\u00f6\u00fc\u00e4\u00f6\u00fc";
  c.body = std::string("Sch\u00f6ne Gr\u00fc\u00dfe\n\nA line with trailing blanks   \n") +
           std::string(2000, 'x') + "\n=3D is not an escape\n";
  const std::string binary("\0\1\2\xff\xfe\r\n--=_postern_\r\n.\r\n", 24);
  c.attachments = {{"Jahres\u00fcbersicht 2026.pdf", "application/pdf", binary},
                   {std::string(150, 'n') + "\u00e9.txt", "text/plain", "hello"},
                   {"plain name.txt", "text/plain; charset=utf-8", ""}};
  const auto out = compose_message(c);
  REQUIRE(out);
  check_wire_form(out->message);
  for (char ch : out->message) CHECK(static_cast<unsigned char>(ch) < 0x80);
  CHECK(out->message.find("filename*=utf-8''Jahres%C3%BCbersicht%202026.pdf") != std::string::npos);

  const auto root = parse_message(out->message);
  const MessageView v = make_message_view(out->message, root);
  CHECK(v.subject == c.subject);
  REQUIRE(v.from.size() == 1);
  CHECK(v.from[0].name == c.from.name);
  CHECK(v.from[0].address == c.from.address);
  REQUIRE(v.to.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(v.to[i].name == c.to[i].name);
    CHECK(v.to[i].address == c.to[i].address);
  }
  REQUIRE(v.text);
  std::string expected_body = c.body;
  CHECK(*v.text == expected_body);
  REQUIRE(v.attachments.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(v.attachments[i].filename == c.attachments[i].filename);
    const auto* part = find_section(root, v.attachments[i].part);
    REQUIRE(part != nullptr);
    CHECK(decode_part_body(out->message, *part) == c.attachments[i].data);
  }
  CHECK(v.attachments[0].content_type == "application/pdf");
  CHECK(v.attachments[2].content_type == "text/plain");
}

TEST_CASE("composer: header injection and missing recipients are refused") {
  Composition c = sample();
  c.subject = "hi\r\nBcc: victim@example.com";
  CHECK(compose_message(c).error() == "subject contains a line break");
  c = sample();
  c.to = {{"Bob\nX-Evil: 1", "bob@example.com"}};
  CHECK(compose_message(c).error() == "to contains a line break");
  c = sample();
  c.to = {{"", "bob@example.com>\r\nX: y"}};
  CHECK(!compose_message(c));
  c = sample();
  c.attachments = {{"a\r\n.txt", "text/plain", "x"}};
  CHECK(compose_message(c).error() == "attachment filename contains a line break");
  c = sample();
  c.to.clear();
  CHECK(compose_message(c).error() == "no recipient");
  c.draft = true;
  CHECK(compose_message(c).has_value());
}

TEST_CASE("composer: a current date and a fresh Message-ID when none is given") {
  Composition c = sample();
  c.date.clear();
  const auto a = compose_message(c);
  const auto b = compose_message(c);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->message_id != b->message_id);
  const auto root = parse_message(a->message);
  REQUIRE(root.envelope.date);
  CHECK(root.envelope.date->size() == 31);  // "Sun, 22 Nov 2026 10:00:00 +0000"
  CHECK(root.envelope.date->ends_with(" +0000"));
}

TEST_CASE("composer: typed address lists") {
  const auto list = parse_typed_addresses(
      "Bob <bob@x.example>, c@y.example, \"Last, First\" <f@z.example>;"
      " <d@w.example> ,");
  REQUIRE(list);
  REQUIRE(list->size() == 4);
  CHECK((*list)[0].name == "Bob");
  CHECK((*list)[0].address == "bob@x.example");
  CHECK((*list)[1].name.empty());
  CHECK((*list)[1].address == "c@y.example");
  CHECK((*list)[2].name == "Last, First");
  CHECK((*list)[2].address == "f@z.example");
  CHECK((*list)[3].address == "d@w.example");
  CHECK(parse_typed_addresses("")->empty());
  CHECK(parse_typed_addresses("bob@x.example, not an address").error() ==
        "not an address: not an address");
  CHECK(parse_typed_addresses("Bob <bob>").error() == "not an address: Bob <bob>");
  CHECK(!parse_typed_addresses("a@b@c"));
}

TEST_CASE("composer: reply and forward subjects do not pile up") {
  CHECK(reply_subject("Hello") == "Re: Hello");
  CHECK(reply_subject("Re: Hello") == "Re: Hello");
  CHECK(reply_subject("RE: re: Aw: Hello") == "Re: Hello");
  CHECK(reply_subject("Re[2]: Hello") == "Re: Hello");
  CHECK(reply_subject("Fwd: Hello") == "Re: Fwd: Hello");
  CHECK(reply_subject("") == "Re: ");
  CHECK(forward_subject("Hello") == "Fwd: Hello");
  CHECK(forward_subject("FW: Fwd: Hello") == "Fwd: Hello");
  CHECK(forward_subject("Re: Hello") == "Fwd: Re: Hello");
  CHECK(reply_subject("Meeting: 10:00") == "Re: Meeting: 10:00");
}

TEST_CASE("composer: quoting the original") {
  MessageView v;
  v.from = {{"Bob", "bob@example.com"}};
  v.date = "Sat, 21 Nov 2026 10:00:00 +0000";
  v.text = "Hi\n\n> earlier\nbye";
  CHECK(quote_body(v) ==
        "On Sat, 21 Nov 2026 10:00:00 +0000, Bob <bob@example.com> wrote:\n"
        "> Hi\n>\n>> earlier\n> bye\n");
  MessageView html_only;
  html_only.from = {{"", "c@example.com"}};
  html_only.html = "<p>Hello <b>there</b></p><p>second<br>line</p><script>x()</script>";
  CHECK(quote_body(html_only) == "c@example.com wrote:\n> Hello there\n> second\n> line\n");
}

TEST_CASE("composer: quoted-printable keeps lines short and escapes what it must") {
  const std::string qp = encode_quoted_printable(std::string(200, 'a') + " \r\n=\xc3\xa9\t");
  std::size_t line = 0;
  for (char c : qp) {
    if (c == '\n') {
      line = 0;
    } else if (c != '\r') {
      CHECK(++line <= 76);
    }
  }
  CHECK(qp.ends_with("=20\r\n=3D=C3=A9=09"));
}

TEST_CASE("composer: over-long user text still makes lines under 998 octets") {
  Composition c = sample();
  c.from.name = std::string(1500, 'A');
  c.subject = std::string(1200, 's') + " and " + std::string(100, 't');
  c.references = "<" + std::string(1000, 'r') + "@x> <ok@x>";
  c.attachments = {{std::string(1100, 'f') + ".txt", "text/plain", "data"}};
  const auto out = compose_message(c);
  REQUIRE(out);
  check_wire_form(out->message);
  const auto root = parse_message(out->message);
  const MessageView v = make_message_view(out->message, root);
  CHECK(v.subject == c.subject);
  REQUIRE(v.from.size() == 1);
  CHECK(v.from[0].name == c.from.name);
  REQUIRE(v.attachments.size() == 1);
  CHECK(v.attachments[0].filename == c.attachments[0].filename);
  CHECK(v.references == "<ok@x>");
  c.to = {{"", std::string(300, 'l') + "@x.example"}};
  CHECK(!compose_message(c));
}

TEST_CASE("composer: each envelope recipient once, whatever its case, in a long list") {
  Composition c = sample();
  c.cc = {{"", "BOB@example.com"}, {"", "carol@example.org"}};
  for (int i = 0; i < 20000; ++i) {
    c.bcc.push_back({"", "user" + std::to_string(i % 10000) + "@Example.net"});
  }
  c.bcc.push_back({"", "Carol@EXAMPLE.org"});
  const auto out = compose_message(c);
  REQUIRE(out);
  REQUIRE(out->recipients.size() == 2 + 10000);
  CHECK(out->recipients[0] == "bob@example.com");  // the first spelling is kept
  CHECK(out->recipients[1] == "carol@example.org");
  CHECK(out->recipients[2] == "user0@Example.net");
  CHECK(out->recipients.back() == "user9999@Example.net");
}
