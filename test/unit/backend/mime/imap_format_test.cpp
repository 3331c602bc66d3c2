#include "backend/mime/imap_format.hpp"

#include <doctest/doctest.h>

#include <string>

using postern::node::mime::Address;
using postern::node::mime::bodystructure_to_imap;
using postern::node::mime::Envelope;
using postern::node::mime::envelope_to_imap;
using postern::node::mime::imap_nstring;
using postern::node::mime::imap_string;
using postern::node::mime::MessagePart;

TEST_CASE("mime imap: strings are quoted when they can be, else literals") {
  CHECK(imap_string("plain") == "\"plain\"");
  CHECK(imap_string("") == "\"\"");
  CHECK(imap_string("say \"hi\" \\o/") == "\"say \\\"hi\\\" \\\\o/\"");
  CHECK(imap_string("caf\xC3\xA9") == "{5}\r\ncaf\xC3\xA9");
  CHECK(imap_string("a\rb") == "{3}\r\na\rb");
  CHECK(imap_string(std::string("a\0b", 3)) == "\"ab\"");  // IMAP has no NUL
  CHECK(imap_string(std::string("\xFF\0", 2)) == "{1}\r\n\xFF");
  CHECK(imap_nstring(std::nullopt) == "NIL");
}

TEST_CASE("mime imap: an envelope with Sender and Reply-To falling back to From") {
  Envelope e;
  e.date = "Thu, 15 Feb 2007 01:02:03 +0200";
  e.from = {Address{"Real Name", "user", "domain"}};
  e.message_id = "<msg@id>";
  CHECK(envelope_to_imap(e) ==
        "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((\"Real Name\" NIL \"user\" \"domain\")) "
        "((\"Real Name\" NIL \"user\" \"domain\")) ((\"Real Name\" NIL \"user\" \"domain\")) "
        "NIL NIL NIL NIL \"<msg@id>\")");
  CHECK(envelope_to_imap(Envelope{}) == "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
}

TEST_CASE("mime imap: non-ASCII parameter values are sent in RFC 2231 form") {
  MessagePart p;
  p.type = "application";
  p.subtype = "pdf";
  p.params = {{"name", "\xE2\x82\xAC 100%.pdf"}};
  p.disposition = "attachment";
  p.disposition_params = {{"filename", "plain.pdf"}};
  p.body_offset = 10;
  p.end_offset = 30;
  CHECK(bodystructure_to_imap(p, false) ==
        "(\"APPLICATION\" \"PDF\" (\"NAME*\" \"utf-8''%E2%82%AC%20100%25.pdf\") NIL NIL "
        "\"7BIT\" 20)");
  CHECK(bodystructure_to_imap(p, true) ==
        "(\"APPLICATION\" \"PDF\" (\"NAME*\" \"utf-8''%E2%82%AC%20100%25.pdf\") NIL NIL "
        "\"7BIT\" 20 NIL (\"ATTACHMENT\" (\"FILENAME\" \"plain.pdf\")) NIL NIL)");
}

TEST_CASE("mime imap: a multipart without parts shows one empty text part") {
  MessagePart p;
  p.type = "multipart";
  p.subtype = "mixed";
  p.params = {{"boundary", "x"}};
  CHECK(bodystructure_to_imap(p, false) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) \"MIXED\")");
  CHECK(bodystructure_to_imap(p, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL) "
        "\"MIXED\" (\"BOUNDARY\" \"x\") NIL NIL NIL)");
}

TEST_CASE("mime imap: multipart extension data and languages") {
  MessagePart text;
  text.params = {{"charset", "us-ascii"}};
  text.language = {"en"};
  MessagePart p;
  p.type = "multipart";
  p.subtype = "related";
  p.disposition = "inline";
  p.language = {"en", "de"};
  p.location = "http://example.com/";
  p.children = {text};
  CHECK(bodystructure_to_imap(p, true) ==
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 NIL NIL (\"en\") "
        "NIL) \"RELATED\" NIL (\"INLINE\" NIL) (\"en\" \"de\") \"http://example.com/\")");
}

TEST_CASE("mime imap: offsets out of order never give a negative size") {
  MessagePart p;
  p.type = "image";
  p.subtype = "gif";
  p.body_offset = 50;
  p.end_offset = 10;
  CHECK(bodystructure_to_imap(p, false) == "(\"IMAGE\" \"GIF\" NIL NIL NIL \"7BIT\" 0)");
}
