// The parser on hand-made edge cases: limits, missing pieces, section numbers.
// Every input is replayed split at every byte (STYLE.md rule 2).
#include "backend/mime/message_parser.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "test/unit/backend/mime/mime_test_support.hpp"
#include "test/unit/split_feed.hpp"

using postern::node::mime::bodystructure_to_imap;
using postern::node::mime::find_section;
using postern::node::mime::Limits;
using postern::node::mime::MessageParser;
using postern::node::mime::MessagePart;
using postern::node::mime::parse_message;
using postern::node::mime::test::outline;
using postern::node::mime::test::read_corpus;
using postern::node::mime::test::summary_of;

namespace {

// Parses `input`, after checking that every way of splitting it gives the same.
MessagePart parse_checked(const std::string& input, Limits limits = {}) {
  const std::string mismatch = postern::test::check_split_invariance(
      input,
      [&](const std::vector<std::string_view>& chunks) { return summary_of(chunks, limits); });
  CHECK(mismatch == "");
  return parse_message(input, limits);
}

std::string outline_of(const MessagePart& root) {
  std::string out;
  outline(root, "", out);
  return out;
}

std::string body_of(const std::string& message, const MessagePart& part) {
  return message.substr(part.body_offset, part.end_offset - part.body_offset);
}

std::string nested_multiparts(int levels) {
  std::string m;
  for (int i = 0; i < levels; ++i) {
    m += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" +
         std::to_string(i) + "\r\n";
  }
  return m + "\r\ndeep\r\n";
}

}  // namespace

TEST_CASE("mime parser: empty input is an empty text/plain message") {
  const MessagePart root = parse_checked("");
  CHECK(outline_of(root) == "root text/plain h=0 b=0 e=0 lines=0\n");
  CHECK(root.params == postern::node::mime::Params{{"charset", "us-ascii"}});
  CHECK(root.envelope == postern::node::mime::Envelope{});
}

TEST_CASE("mime parser: a header without a blank line has an empty body") {
  const std::string m = "Subject: only a header\r\nFrom: a@b";
  const MessagePart root = parse_checked(m);
  CHECK(outline_of(root) == "root text/plain h=0 b=33 e=33 lines=0\n");
  CHECK(root.envelope.subject == "only a header");
  REQUIRE(root.envelope.from.size() == 1);
  CHECK(root.envelope.from[0].host == "b");
}

TEST_CASE("mime parser: a part whose header runs into the next boundary") {
  const std::string m =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n"
      "--b\r\n\r\nsecond\r\n--b--\r\n";
  const MessagePart root = parse_checked(m);
  CHECK(outline_of(root) ==
        "root multipart/mixed h=0 b=45 e=97 lines=6\n"
        "1 text/html h=50 b=73 e=73 lines=0\n"
        "2 text/plain h=80 b=82 e=88 lines=0\n");
  CHECK(body_of(m, root.children[1]) == "second");
}

TEST_CASE("mime parser: boundary lines may carry padding; the epilogue ignores them") {
  const std::string m =
      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\npreamble\r\n--b \t\r\n\r\none\r\n"
      "--b--  \r\nepilogue\r\n--b\r\n\r\nnot a part\r\n";
  const MessagePart root = parse_checked(m);
  REQUIRE(root.children.size() == 1);
  CHECK(body_of(m, root.children[0]) == "one");
  CHECK(root.end_offset == m.size());
}

TEST_CASE("mime parser: only a line starting with -- and the boundary is a boundary") {
  const std::string m =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx --b\r\n -b\r\n--c\r\n--b--";
  const MessagePart root = parse_checked(m);
  REQUIRE(root.children.size() == 1);
  CHECK(body_of(m, root.children[0]) == "x --b\r\n -b\r\n--c");
}

TEST_CASE("mime parser: nesting deeper than the limit becomes an opaque leaf") {
  Limits limits;
  limits.max_depth = 3;
  const std::string m = nested_multiparts(5);
  const MessagePart root = parse_checked(m, limits);
  CHECK(outline_of(root) ==
        "root multipart/mixed h=0 b=46 e=268 lines=15\n"
        "1 multipart/mixed h=52 b=98 e=268 lines=12\n"
        "1/1 application/octet-stream h=104 b=150 e=268 lines=9\n");
  CHECK(parse_message(m).children[0].children[0].children[0].is_multipart());
}

TEST_CASE("mime parser: message/rfc822 at the depth limit is opaque too") {
  Limits limits;
  limits.max_depth = 1;
  const MessagePart root =
      parse_checked("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n", limits);
  CHECK(root.type == "application");
  CHECK(root.children.empty());
}

TEST_CASE("mime parser: beyond the part limit, boundary lines are body lines") {
  Limits limits;
  limits.max_parts = 3;  // the message and two parts
  const std::string m =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n1\r\n--b\r\n\r\n2\r\n"
      "--b\r\n\r\n3\r\n--b--\r\n";
  const MessagePart root = parse_checked(m, limits);
  REQUIRE(root.children.size() == 2);
  CHECK(body_of(m, root.children[1]) == "2\r\n--b\r\n\r\n3");
}

TEST_CASE("mime parser: a huge header loses its tail, not the message") {
  Limits limits;
  limits.max_header_bytes = 64;
  const std::string m = "From: a@b\r\nSubject: " + std::string(200, 'x') +
                        "\r\nTo: c@d\r\nContent-Type: text/html\r\n\r\nbody\r\n";
  const MessagePart root = parse_checked(m, limits);
  CHECK(root.envelope.from.size() == 1);
  CHECK(!root.envelope.subject);
  CHECK(root.envelope.to.empty());
  CHECK(root.subtype == "plain");  // Content-Type came after the limit
  CHECK(body_of(m, root) == "body\r\n");
}

TEST_CASE("mime parser: a long body line is never buffered and offsets stay exact") {
  const std::string line(3 * 1024 * 1024, 'a');
  const std::string m =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" + line + "\r\n--b--\r\n";
  MessageParser parser;
  for (std::size_t pos = 0; pos < m.size(); pos += 4096)
    parser.feed(std::string_view(m).substr(pos, 4096));
  const MessagePart root = parser.finish();
  REQUIRE(root.children.size() == 1);
  CHECK(root.children[0].end_offset - root.children[0].body_offset == line.size());
  CHECK(root.children[0].body_lines == 0);
}

TEST_CASE("mime parser: a too long or empty boundary parameter means text/plain") {
  Limits limits;
  limits.max_boundary_bytes = 10;
  MessagePart root = parse_checked(
      "Content-Type: multipart/mixed; boundary=0123456789ab\r\n\r\n--0123456789ab\r\n", limits);
  CHECK(root.type == "text");
  CHECK(root.children.empty());
  root = parse_checked("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n");
  CHECK(root.type == "text");
}

TEST_CASE("mime parser: content defaults") {
  MessagePart root = parse_checked("Content-Type: garbage\r\n\r\n");
  CHECK(bodystructure_to_imap(root, false) ==
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)");
  root = parse_checked(
      "Content-Type: Text/HTML; Format=flowed\r\nContent-Transfer-Encoding: ?x\r\n\r\n");
  CHECK(bodystructure_to_imap(root, false) ==
        "(\"TEXT\" \"HTML\" (\"FORMAT\" \"flowed\" \"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 "
        "0)");
}

TEST_CASE("mime parser: message/rfc822 whose message ends inside its header") {
  const std::string m = "Content-Type: message/rfc822\r\n\r\nSubject: cut";
  const MessagePart root = parse_checked(m);
  REQUIRE(root.children.size() == 1);
  CHECK(root.children[0].envelope.subject == "cut");
  CHECK(root.children[0].body_offset == m.size());
  CHECK(bodystructure_to_imap(root, false) ==
        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 12 (NIL \"cut\" NIL NIL NIL NIL NIL NIL NIL "
        "NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 0 0) 0)");
}

TEST_CASE("mime parser: the same boundary nested twice matches the innermost first") {
  const std::string m =
      "Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n"
      "Content-Type: multipart/mixed; boundary=s\r\n\r\n--s\r\n\r\ninner\r\n--s--\r\n"
      "--s\r\n\r\nlast\r\n--s--\r\n";
  const MessagePart root = parse_checked(m);
  // The inner close delimiter retires the inner boundary; the next "--s" is the outer one.
  REQUIRE(root.children.size() == 2);
  REQUIRE(root.children[0].children.size() == 1);
  CHECK(body_of(m, root.children[0].children[0]) == "inner");
  CHECK(body_of(m, root.children[1]) == "last");
}

TEST_CASE("mime parser: the parser is reusable after finish()") {
  MessageParser parser;
  parser.feed("Subject: one\r\n\r\nx");
  const MessagePart first = parser.finish();
  CHECK(parser.offset() == 0);
  parser.feed("Subject: two\r\n\r\n");
  const MessagePart second = parser.finish();
  CHECK(first.envelope.subject == "one");
  CHECK(second.envelope.subject == "two");
  CHECK(second.end_offset == 16);
}

TEST_CASE("mime sections: RFC 3501 part numbers, through message/rfc822") {
  const MessagePart root = parse_message(read_corpus("rfc822_attachment.eml"));
  auto type_of = [&](std::string_view section) -> std::string {
    const MessagePart* p = find_section(root, section);
    return p ? p->type + "/" + p->subtype : "none";
  };
  CHECK(find_section(root, "") == &root);
  CHECK(type_of("1") == "text/plain");
  CHECK(type_of("2") == "message/rfc822");
  CHECK(type_of("2.1") == "text/plain");  // first part of the encapsulated multipart
  CHECK(find_section(root, "2.2") == &root.children[1].children[0].children[1]);
  for (const char* bad : {"3", "0", "01", "1.1", "2.3", "2.1.1", "2.", ".1", "a", "1a", "-1",
                          "99999999999999999999"}) {
    CAPTURE(bad);
    CHECK(type_of(bad) == "none");
  }
}

TEST_CASE("mime sections: single-part messages and encapsulated single parts") {
  const MessagePart simple = parse_message(read_corpus("simple_text.eml"));
  CHECK(find_section(simple, "1") == &simple);
  CHECK(find_section(simple, "2") == nullptr);

  const MessagePart digest = parse_message(read_corpus("digest.eml"));
  // 1 is a message/rfc822 whose message is not multipart: 1.1 is that message.
  CHECK(find_section(digest, "1.1") == &digest.children[0].children[0]);
  CHECK(find_section(digest, "1.2") == nullptr);
  CHECK(find_section(digest, "3") == &digest.children[2]);

  const MessagePart top = parse_message("Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nb");
  CHECK(find_section(top, "1") == &top);
  CHECK(find_section(top, "1.1") == &top.children[0]);
}
