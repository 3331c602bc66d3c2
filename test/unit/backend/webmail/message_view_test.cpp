// The reader's view of real-world message shapes: what Thunderbird, Outlook,
// Gmail and Apple Mail send (alternatives, related images, forwarded
// messages, encoded file names), decoded to UTF-8.
#include "backend/webmail/message_view.hpp"

#include <doctest/doctest.h>

#include <string>

#include "backend/mime/message_parser.hpp"
#include "test/unit/test_text.hpp"

using postern::node::mime::parse_message;
using postern::node::webmail::decode_addresses;
using postern::node::webmail::make_message_view;
using postern::node::webmail::MessageView;

namespace {

using postern::test::crlf;

MessageView view_of(const std::string& message) {
  return make_message_view(message, parse_message(message));
}

}  // namespace

TEST_CASE("message view: multipart/alternative with quoted-printable ISO-8859-1") {
  const std::string m = crlf(R"(From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@example.de>
To: "Doe, Jane" <jane@example.com>, bob@example.com
Cc: Team: carol@example.com, dave@example.com;
Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=
Date: Sat, 21 Nov 2026 10:00:00 +0100
Message-ID: <abc@example.de>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Sch=F6ne Gr=FC=DFe,=20
ein sehr langer Satz, der weich umbrochen wird, damit die Zeile nicht zu la=
ng wird.
--alt
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<p>Sch=F6ne Gr=FC=DFe</p>
--alt--
)");
  const MessageView v = view_of(m);
  CHECK(v.subject == "Gr\u00fc\u00dfe aus K\u00f6ln");
  REQUIRE(v.from.size() == 1);
  CHECK(v.from[0].name == "J\u00f6rg M\u00fcller");
  CHECK(v.from[0].address == "joerg@example.de");
  REQUIRE(v.to.size() == 2);
  CHECK(v.to[0].name == "Doe, Jane");
  CHECK(v.to[1].address == "bob@example.com");
  REQUIRE(v.cc.size() == 2);  // group markers are not addresses
  CHECK(v.cc[1].address == "dave@example.com");
  CHECK(v.date == "Sat, 21 Nov 2026 10:00:00 +0100");
  CHECK(v.message_id == "<abc@example.de>");
  REQUIRE(v.text);
  CHECK(*v.text ==
        "Sch\u00f6ne Gr\u00fc\u00dfe, \nein sehr langer Satz, der weich umbrochen wird, damit die "
        "Zeile nicht zu lang wird.");
  REQUIRE(v.html);
  CHECK(*v.html == "<p>Sch\u00f6ne Gr\u00fc\u00dfe</p>");
  CHECK(v.attachments.empty());
}

TEST_CASE("message view: an HTML-only base64 UTF-8 message") {
  const std::string m = crlf(R"(From: news@shop.example
Subject: =?UTF-8?B?8J+OiSBTYWxl?=
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: base64

PGgxPkdyb8OfZSBBa3Rpb248L2gxPg==
)");
  const MessageView v = view_of(m);
  CHECK(v.subject == "\U0001F389 Sale");
  CHECK(!v.text);
  REQUIRE(v.html);
  CHECK(*v.html == "<h1>Gro\u00dfe Aktion</h1>");
  CHECK(v.attachments.empty());
}

TEST_CASE("message view: attachments with RFC 2231 and RFC 2047 file names") {
  const std::string m = crlf(R"(From: a@example.com
Subject: files
Content-Type: multipart/mixed; boundary=mix

--mix
Content-Type: text/plain; charset=utf-8

See attached.
--mix
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=utf-8''Jahres%C3%BCbersicht%20;
 filename*1*=2026%E2%80%93Q4.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--mix
Content-Type: application/vnd.ms-excel; name="=?utf-8?B?QsO8ZGdldC54bHM=?="
Content-Disposition: attachment; filename="=?utf-8?B?QsO8ZGdldC54bHM=?="
Content-Transfer-Encoding: base64

AAEC
--mix
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="/home/bob/Desktop/notes.txt"

plain
--mix
Content-Type: text/plain; name="log.txt"

a log that is a file, not a body
--mix--
)");
  const MessageView v = view_of(m);
  REQUIRE(v.text);
  CHECK(*v.text == "See attached.");
  REQUIRE(v.attachments.size() == 4);
  CHECK(v.attachments[0].part == "2");
  CHECK(v.attachments[0].filename == "Jahres\u00fcbersicht 2026\u2013Q4.pdf");
  CHECK(v.attachments[0].content_type == "application/pdf");
  CHECK(v.attachments[0].size == 9);
  CHECK(v.attachments[1].filename == "B\u00fcdget.xls");
  CHECK(v.attachments[2].filename == "notes.txt");
  CHECK(v.attachments[3].filename == "log.txt");
  CHECK(v.attachments[3].part == "5");
  CHECK(!v.attachments[0].is_inline);
}

TEST_CASE("message view: an attached message/rfc822 is an attachment, not a body") {
  const std::string m = crlf(R"(From: a@example.com
Subject: Fwd: hello
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

Forwarding this.
--outer
Content-Type: message/rfc822

From: b@example.com
Subject: =?utf-8?q?Hall=C3=B6?=
Content-Type: text/plain

inner body
--outer--
)");
  const MessageView v = view_of(m);
  REQUIRE(v.text);
  CHECK(*v.text == "Forwarding this.");
  REQUIRE(v.attachments.size() == 1);
  CHECK(v.attachments[0].part == "2");
  CHECK(v.attachments[0].content_type == "message/rfc822");
  CHECK(v.attachments[0].filename == "Hall\u00f6.eml");
}

TEST_CASE("message view: multipart/related with an inline cid image") {
  const std::string m = crlf(R"(From: a@example.com
Subject: logo
Content-Type: multipart/alternative; boundary=a1

--a1
Content-Type: text/plain; charset=us-ascii

Our logo.
--a1
Content-Type: multipart/related; boundary=r1

--r1
Content-Type: text/html; charset=utf-8

<p>Our logo <img src="cid:logo@x"></p>
--r1
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--r1--
--a1--
)");
  const MessageView v = view_of(m);
  REQUIRE(v.text);
  CHECK(*v.text == "Our logo.");
  REQUIRE(v.html);
  CHECK(*v.html == "<p>Our logo <img src=\"cid:logo@x\"></p>");
  REQUIRE(v.attachments.size() == 1);
  CHECK(v.attachments[0].part == "2.2");
  CHECK(v.attachments[0].content_id == "logo@x");
  CHECK(v.attachments[0].is_inline);
  CHECK(v.attachments[0].content_type == "image/png");
  CHECK(v.attachments[0].filename == "part-2.2.png");
}

TEST_CASE("message view: a plain message, 8-bit headers and unknown charsets") {
  const std::string m = crlf(
      "From: \xc3\x89lise <elise@example.fr>\n"
      "Subject: caf\xe9\n"
      "Content-Type: text/plain; charset=x-unknown-charset\n"
      "\n"
      "ok \xff\n");
  const MessageView v = view_of(m);
  CHECK(v.subject == "caf\u00e9");  // Latin-1 bytes, read as Windows-1252
  REQUIRE(v.from.size() == 1);
  CHECK(v.from[0].name == "\u00c9lise");
  REQUIRE(v.text);
  CHECK(*v.text == "ok \ufffd\n");
  CHECK(decode_addresses("=?utf-8?q?Z=C3=BC?= <z@x.example>, y@x.example").size() == 2);
}

TEST_CASE("message view: mixed with several inline text parts joins them") {
  const std::string m = crlf(R"(Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/plain

first
--b
Content-Type: text/plain
Content-Disposition: inline

footer
--b--
)");
  const MessageView v = view_of(m);
  REQUIRE(v.text);
  CHECK(*v.text == "first\n\nfooter");
}
