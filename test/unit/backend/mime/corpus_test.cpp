// The parser over a corpus of real-world message shapes (corpus/*.eml). Every
// case replays its input split at every byte (STYLE.md rule 2) and checks the
// part tree with its offsets, the bytes found at those offsets, and the
// BODYSTRUCTURE and ENVELOPE that IMAP will send.
//
// The expected IMAP strings were compared with Dovecot 2.3.19's FETCH output
// for the same files. They agree except for: letter case (Dovecot repeats the
// header's case; we send "TEXT" "PLAIN" ("CHARSET" ...), like UW and Cyrus);
// sizes of LF-only messages (Dovecot counts a CR per LF, we count stored
// bytes); a nested multipart's close delimiter followed directly by the outer
// boundary (Dovecot gives the line break to the inner part, we give it to the
// outer boundary as RFC 2046 says: 2 bytes and 1 line less for 2 in
// rfc822_attachment); and a multipart without boundary (Dovecot shows an
// empty multipart, we show text/plain).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "test/unit/backend/mime/mime_test_support.hpp"
#include "test/unit/split_feed.hpp"

using postern::node::mime::bodystructure_to_imap;
using postern::node::mime::envelope_to_imap;
using postern::node::mime::MessagePart;
using postern::node::mime::parse_message;
using postern::node::mime::test::outline;
using postern::node::mime::test::read_corpus;
using postern::node::mime::test::summary_of;

namespace {

std::string outline_of(const MessagePart& root) {
  std::string out;
  outline(root, "", out);
  return out;
}

// The message from `offset` on, for checking what lies at an offset.
std::string_view at(const std::string& message, std::uint64_t offset) {
  REQUIRE(offset <= message.size());
  return std::string_view(message).substr(offset);
}

std::string split_check(const std::string& message) {
  return postern::test::check_split_invariance(
      message, [](const std::vector<std::string_view>& chunks) { return summary_of(chunks); });
}

}  // namespace

TEST_CASE("mime corpus: simple text/plain with folded Subject and a quoted display name") {
  const std::string message = read_corpus("simple_text.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) == "root text/plain h=0 b=381 e=407 lines=3\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.body_offset).starts_with("Hi Bob,\r\n"));
  CHECK(at(message, root.body_offset - 2).starts_with("\r\nHi Bob"));
  CHECK(at(message, root.end_offset).empty());
  CHECK(bodystructure_to_imap(root, true) ==
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 26 3 NIL "
        "NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(\"Tue, 2 Jan 2024 10:00:00 +0000\" \"Hello there\" ((\"Alice Example\" "
        "NIL \"alice\" \"example.com\")) ((\"Alice Example\" NIL \"alice\" \"example.com\")) "
        "((\"Alice Example\" NIL \"alice\" \"example.com\")) ((\"Bob, the Builder\" "
        "NIL \"bob\" \"example.net\")(NIL NIL \"carol\" \"example.org\")) NIL NIL "
        "NIL \"<simple-1@example.com>\")");
}

TEST_CASE("mime corpus: multipart/alternative with a preamble and an epilogue") {
  const std::string message = read_corpus("alternative.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/alternative h=0 b=224 e=548 lines=15\n1 text/plain h=290 "
        "b=378 e=393 lines=0\n2 text/html h=413 b=490 e=511 lines=1\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.body_offset).starts_with("This is a multi-part"));
  CHECK(at(message, root.children[0].header_offset).starts_with("Content-Type: text/plain"));
  CHECK(at(message, root.children[0].body_offset)
            .starts_with("Hello =E2=82=AC\r\n--=_alt_boundary\r\n"));
  CHECK(at(message, root.children[0].end_offset)
            .starts_with("\r\n--=_alt_boundary\r\nContent-Type: text/html"));
  CHECK(at(message, root.children[1].end_offset).starts_with("\r\n--=_alt_boundary--\r\nepilogue"));
  CHECK(bodystructure_to_imap(root, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" "
        "15 0 NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL "
        "\"7BIT\" 21 1 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"=_alt_boundary\") "
        "NIL NIL NIL)");
  CHECK(
      envelope_to_imap(root.envelope) ==
      "(\"Tue, 2 Jan 2024 10:00:00 +0000\" \"alternative\" ((NIL NIL \"alice\" "
      "\"example.com\")) ((NIL NIL \"alice\" \"example.com\")) ((NIL NIL \"alice\" "
      "\"example.com\")) ((NIL NIL \"bob\" \"example.net\")) NIL NIL NIL \"<alt-1@example.com>\")");
}

TEST_CASE("mime corpus: multipart/mixed with attachments, every extension field and RFC 2231") {
  const std::string message = read_corpus("mixed_attachments.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/mixed h=0 b=190 e=890 lines=25\n1 text/plain h=216 b=262 "
        "e=280 lines=1\n2 application/pdf h=308 b=649 e=669 lines=0\n3 image/png "
        "h=697 b=848 e=860 lines=0\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.children[1].header_offset).starts_with("Content-Type: application/pdf"));
  CHECK(at(message, root.children[1].body_offset)
            .starts_with("JVBERi0xLjQKJcfsj6IK\r\n------=_Part_0_1234.5678\r\n"));
  CHECK(at(message, root.children[2].body_offset)
            .starts_with("iVBORw0KGgo=\r\n------=_Part_0_1234.5678--"));
  CHECK(at(message, root.children[2].end_offset).starts_with("\r\n------=_Part_0_1234.5678--\r\n"));
  CHECK(
      bodystructure_to_imap(root, true) ==
      "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 18 1 "
      "NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") \"<part1@example.com>\" "
      "\"Quarterly report\" \"BASE64\" 20 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"ATTACHMENT\" "
      "(\"FILENAME\" \"report.pdf\" \"SIZE\" \"12\")) (\"en\" \"de-CH\") "
      "\"http://example.com/report.pdf\")(\"IMAGE\" "
      "\"PNG\" NIL NIL NIL \"BASE64\" 12 NIL (\"INLINE\" (\"FILENAME*\" "
      "\"utf-8''%E2%82%AC%20rate.png\")) "
      "NIL NIL) \"MIXED\" (\"BOUNDARY\" \"----=_Part_0_1234.5678\") NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(\"Tue, 2 Jan 2024 10:00:00 +0000\" \"report\" ((NIL NIL \"alice\" \"example.com\")) "
        "((NIL NIL \"alice\" \"example.com\")) ((NIL NIL \"alice\" \"example.com\")) "
        "((NIL NIL \"bob\" \"example.net\")) NIL NIL NIL NIL)");
}

TEST_CASE("mime corpus: multipart/related nested inside multipart/alternative") {
  const std::string message = read_corpus("related_in_alternative.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/alternative h=0 b=120 e=469 lines=20\n1 text/plain h=129 "
        "b=157 e=170 lines=0\n2 multipart/related h=181 b=250 e=456 lines=11\n2/1 "
        "text/html h=259 b=306 e=328 lines=0\n2/2 image/gif h=339 b=423 e=443 lines=0\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.children[1].body_offset).starts_with("--inner\r\n"));
  CHECK(at(message, root.children[1].end_offset).starts_with("\r\n--outer--"));
  CHECK(at(message, root.children[1].children[1].body_offset)
            .starts_with("R0lGODlhAQABAAAAACw=\r\n--inner--"));
  CHECK(at(message, root.children[1].children[1].end_offset)
            .starts_with("\r\n--inner--\r\n\r\n--outer--"));
  CHECK(bodystructure_to_imap(root, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 0 "
        "NIL NIL NIL NIL)((\"TEXT\" \"HTML\" (\"CHARSET\" \"iso-8859-1\") NIL NIL "
        "\"7BIT\" 22 0 NIL NIL NIL NIL)(\"IMAGE\" \"GIF\" NIL \"<logo@x>\" NIL "
        "\"BASE64\" 20 NIL NIL NIL NIL) \"RELATED\" (\"BOUNDARY\" \"inner\" \"TYPE\" "
        "\"text/html\") NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"outer\") NIL "
        "NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"newsletter\" ((NIL NIL \"alice\" \"example.com\")) ((NIL NIL \"alice\" "
        "\"example.com\")) ((NIL NIL \"alice\" \"example.com\")) NIL NIL NIL NIL "
        "NIL)");
}

TEST_CASE("mime corpus: message/rfc822 attachment whose message is multipart") {
  const std::string message = read_corpus("rfc822_attachment.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/mixed h=0 b=136 e=672 lines=27\n1 text/plain h=143 b=171 "
        "e=181 lines=0\n2 message/rfc822 h=190 b=278 e=661 lines=17\n2/1 multipart/alternative "
        "h=278 b=542 e=661 lines=8\n2/1/1 text/plain h=551 b=579 e=592 lines=0\n2/1/2 "
        "text/html h=603 b=630 e=650 lines=0\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.children[1].body_offset).starts_with("From: Carol"));
  CHECK(at(message, root.children[1].children[0].header_offset).starts_with("From: Carol"));
  CHECK(at(message, root.children[1].children[0].body_offset).starts_with("--inner\r\n"));
  CHECK(at(message, root.children[1].end_offset).starts_with("\r\n--fwd--"));
  CHECK(at(message, root.children[1].children[0].children[1].end_offset)
            .starts_with("\r\n--inner--\r\n--fwd--"));
  CHECK(bodystructure_to_imap(root, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 10 0 "
        "NIL NIL NIL NIL)(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 383 (\"Mon, "
        "1 Jan 2024 09:00:00 +0100\" \"original\" ((\"Carol\" NIL \"carol\" \"example.org\")) "
        "((\"Carol\" NIL \"carol\" \"example.org\")) ((\"Carol\" NIL \"carol\" "
        "\"example.org\")) ((NIL NIL \"alice\" \"example.com\")) ((NIL NIL "
        "\"undisclosed-recipients\" "
        "NIL)(NIL NIL NIL NIL)) NIL \"<older@example.org>\" \"<orig@example.org>\") "
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 0 "
        "NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL "
        "\"7BIT\" 20 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"inner\") "
        "NIL NIL NIL) 17 NIL (\"ATTACHMENT\" (\"FILENAME\" \"original.eml\")) NIL "
        "NIL) \"MIXED\" (\"BOUNDARY\" \"fwd\") NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"Fwd: original\" ((NIL NIL \"alice\" \"example.com\")) ((NIL NIL "
        "\"alice\" \"example.com\")) ((NIL NIL \"alice\" \"example.com\")) ((NIL "
        "NIL \"bob\" \"example.net\")) NIL NIL NIL NIL)");
}

TEST_CASE("mime corpus: multipart/digest: parts default to message/rfc822") {
  const std::string message = read_corpus("digest.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/digest h=0 b=115 e=302 lines=17\n1 message/rfc822 h=122 "
        "b=124 e=176 lines=3\n1/1 text/plain h=124 b=163 e=176 lines=0\n2 message/rfc822 "
        "h=185 b=187 e=241 lines=3\n2/1 text/plain h=187 b=227 e=241 lines=0\n3 "
        "text/plain h=250 b=278 e=291 lines=0\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.children[0].header_offset).starts_with("\r\nFrom: a@example.org"));
  CHECK(at(message, root.children[0].body_offset).starts_with("From: a@example.org"));
  CHECK(
      at(message, root.children[0].children[0].body_offset).starts_with("First message\r\n--dig"));
  CHECK(at(message, root.children[2].body_offset).starts_with("Not a message\r\n--dig--"));
  CHECK(bodystructure_to_imap(root, true) ==
        "((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 52 (NIL \"first\" ((NIL "
        "NIL \"a\" \"example.org\")) ((NIL NIL \"a\" \"example.org\")) ((NIL NIL "
        "\"a\" \"example.org\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" "
        "\"us-ascii\") NIL NIL \"7BIT\" 13 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"MESSAGE\" "
        "\"RFC822\" NIL NIL NIL \"7BIT\" 54 (NIL \"second\" ((NIL NIL \"b\" \"example.org\")) "
        "((NIL NIL \"b\" \"example.org\")) ((NIL NIL \"b\" \"example.org\")) NIL "
        "NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
        "\"7BIT\" 14 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" "
        "\"us-ascii\") NIL NIL \"7BIT\" 13 0 NIL NIL NIL NIL) \"DIGEST\" (\"BOUNDARY\" "
        "\"dig\") NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"Digest, Vol 1\" ((NIL NIL \"list\" \"example.org\")) ((NIL NIL "
        "\"list\" \"example.org\")) ((NIL NIL \"list\" \"example.org\")) NIL NIL "
        "NIL NIL NIL)");
}

TEST_CASE("mime corpus: no closing boundary: open parts end at the end of the message") {
  const std::string message = read_corpus("missing_close.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/mixed h=0 b=91 e=258 lines=14\n1 text/plain h=97 b=125 "
        "e=130 lines=0\n2 text/plain h=138 b=140 e=154 lines=0\n3 multipart/alternative "
        "h=162 b=214 e=258 lines=4\n3/1 text/plain h=220 b=248 e=258 lines=1\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.children[1].header_offset).starts_with("\r\nno-header part"));
  CHECK(at(message, root.children[1].body_offset).starts_with("no-header part\r\n--b1"));
  CHECK(at(message, root.children[2].children[0].body_offset).starts_with("cut here\r\n"));
  CHECK(at(message, root.children[2].children[0].end_offset).empty());
  CHECK(bodystructure_to_imap(root, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 0 NIL "
        "NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" "
        "14 0 NIL NIL NIL NIL)((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL "
        "NIL \"7BIT\" 10 1 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"b2\") "
        "NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"truncated\" ((NIL NIL \"alice\" \"example.com\")) ((NIL NIL \"alice\" "
        "\"example.com\")) ((NIL NIL \"alice\" \"example.com\")) NIL NIL NIL NIL "
        "NIL)");
}

TEST_CASE("mime corpus: multipart without a boundary parameter is read as text/plain") {
  const std::string message = read_corpus("no_boundary.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) == "root text/plain h=0 b=80 e=132 lines=5\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.body_offset).starts_with("--what\r\n"));
  CHECK(bodystructure_to_imap(root, true) ==
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 52 5 NIL "
        "NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"no boundary\" ((NIL NIL \"alice\" \"example.com\")) ((NIL NIL \"alice\" "
        "\"example.com\")) ((NIL NIL \"alice\" \"example.com\")) NIL NIL NIL NIL "
        "NIL)");
}

TEST_CASE("mime corpus: LF-only line endings") {
  const std::string message = read_corpus("lf_only.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/mixed h=0 b=85 e=180 lines=10\n1 text/plain h=90 b=116 "
        "e=123 lines=1\n2 application/octet-stream h=129 b=169 e=172 lines=0\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.children[0].body_offset).starts_with("one\ntwo\n--lf\n"));
  CHECK(at(message, root.children[0].end_offset).starts_with("\n--lf\nContent-Type: application"));
  CHECK(at(message, root.children[1].body_offset).starts_with("bin\n--lf--\n"));
  CHECK(bodystructure_to_imap(root, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 7 1 NIL "
        "NIL NIL NIL)(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\" 3 NIL "
        "NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"lf\") NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"lf only\" ((NIL NIL \"alice\" \"example.com\")) ((NIL NIL \"alice\" "
        "\"example.com\")) ((NIL NIL \"alice\" \"example.com\")) NIL NIL NIL NIL "
        "NIL)");
}

TEST_CASE("mime corpus: raw 8-bit header bytes are kept (UTF-8 and not)") {
  const std::string message = read_corpus("eight_bit_headers.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) == "root text/plain h=0 b=187 e=196 lines=1\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.body_offset).starts_with("Grüße\r\n"));
  CHECK(bodystructure_to_imap(root, true) ==
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" 9 1 NIL NIL "
        "NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL {17}\r\nGrüße aus Köln (({13}\r\nJörg Müller NIL \"joerg\" \"example.de\")) "
        "(({13}\r\nJörg Müller NIL \"joerg\" \"example.de\")) (({13}\r\nJörg Müller "
        "NIL \"joerg\" \"example.de\")) (({4}\r\nZoë NIL \"zoe\" \"example.fr\")) "
        "NIL NIL NIL NIL)");
}

TEST_CASE("mime corpus: encoded words stay encoded in ENVELOPE; groups and comments") {
  const std::string message = read_corpus("encoded_words.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) == "root text/plain h=0 b=338 e=344 lines=1\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.body_offset).starts_with("body\r\n"));
  CHECK(bodystructure_to_imap(root, true) ==
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 6 1 NIL NIL "
        "NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"=?utf-8?q?Gr=C3=BC=C3=9Fe?= =?utf-8?q?_aus_K=C3=B6ln?=\" "
        "((\"=?ISO-8859-1?Q?Andr=E9?= "
        "Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) ((\"=?ISO-8859-1?Q?Andr=E9?= "
        "Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) ((\"=?ISO-8859-1?Q?Andr=E9?= "
        "Pirard\" NIL \"PIRARD\" \"vm1.ulg.ac.be\")) ((NIL NIL \"team\" "
        "NIL)(\"=?utf-8?B?SsO2cmc=?=\" "
        "NIL \"joerg\" \"example.de\")(\"Q. Public\" NIL \"q\" \"example.org\")(NIL "
        "NIL NIL NIL)(\"Sender Name\" NIL \"sender\" \"example.org\")) ((\"Real "
        "Name\" NIL \"user\" \"domain\")(NIL NIL \"local-only\" \"MISSING_DOMAIN\")) "
        "NIL NIL NIL)");
}

TEST_CASE("mime corpus: boundaries that prefix each other, both ways round") {
  const std::string message = read_corpus("boundary_prefix.eml");
  REQUIRE(!message.empty());
  CHECK(split_check(message) == "");
  const MessagePart root = parse_message(message);
  CHECK(outline_of(root) ==
        "root multipart/mixed h=0 b=77 e=394 lines=21\n1 multipart/alternative "
        "h=84 b=145 e=262 lines=8\n1/1 text/plain h=158 b=186 e=195 lines=0\n1/2 "
        "text/plain h=210 b=238 e=247 lines=0\n2 multipart/related h=271 b=320 "
        "e=383 lines=4\n2/1 text/plain h=325 b=353 e=376 lines=0\n");
  CHECK(root.end_offset == message.size());
  CHECK(at(message, root.children[0].children[1].end_offset)
            .starts_with("\r\n--abc-inner--\r\n--abc\r\n"));
  CHECK(at(message, root.children[0].end_offset)
            .starts_with("\r\n--abc\r\nContent-Type: multipart/related"));
  CHECK(at(message, root.children[1].children[0].body_offset)
            .starts_with("shorter boundary inside\r\n--a--"));
  CHECK(at(message, root.children[1].end_offset).starts_with("\r\n--abc--\r\n"));
  CHECK(bodystructure_to_imap(root, true) ==
        "(((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 9 0 "
        "NIL NIL NIL NIL)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
        "\"7BIT\" 9 0 NIL NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"abc-inner\") "
        "NIL NIL NIL)((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" "
        "23 0 NIL NIL NIL NIL) \"RELATED\" (\"BOUNDARY\" \"a\") NIL NIL NIL) \"MIXED\" "
        "(\"BOUNDARY\" \"abc\") NIL NIL NIL)");
  CHECK(envelope_to_imap(root.envelope) ==
        "(NIL \"prefix boundaries\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}
