#include "backend/imap/fetch_render.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "backend/imap/message_section.hpp"
#include "backend/mime/imap_format.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "test/unit/backend/imap/imap_test_support.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node;
using namespace postern::node::imap;
using postern::node::imap::test::command_args;
using postern::node::store::test::mailbox_id;
using postern::node::store::test::StoreFixture;

namespace {

// A multipart/mixed message: text, a base64 attachment, an attached message.
// Offsets: header 0..236, part 1 body 298..308, part 2 body 393..401, part 3
// header 409..441 and body 441..578 (the inner message's body 563..578).
const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.com>\r\n"
    "Subject: Test\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    "Message-ID: <1@example.com>\r\n"
    "X-Long: first\r\n"
    " continued\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "Hello Bob.\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAECAwQ=\r\n"
    "--XX\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: Carol <carol@example.com>\r\n"
    "Subject: Inner\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=C3=A9 =\r\n"
    "ok\r\n"
    "--XX--\r\n";

const std::string kInnerMessage = kMessage.substr(441, 578 - 441);
const std::string kHeader = kMessage.substr(0, 236);
const std::string kText = kMessage.substr(236);

const std::string kEnvelope =
    R"(("Mon, 7 Feb 1994 21:52:25 -0800" "Test" (("Alice" NIL "alice" "example.com")) )"
    R"((("Alice" NIL "alice" "example.com")) (("Alice" NIL "alice" "example.com")) )"
    R"((("Bob" NIL "bob" "example.com")) NIL NIL NIL "<1@example.com>"))";
const std::string kCarol = R"((("Carol" NIL "carol" "example.com")))";
const std::string kInnerEnvelope =
    "(NIL \"Inner\" " + kCarol + " " + kCarol + " " + kCarol + " NIL NIL NIL NIL NIL)";

const std::string kBodyStructure =
    R"((("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 0 NIL NIL NIL NIL))"
    R"(("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 8 NIL NIL NIL NIL))"
    R"(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 137 )" +
    kInnerEnvelope +
    R"( ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "QUOTED-PRINTABLE" 15 1 NIL NIL NIL NIL))"
    R"( 6 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "XX") NIL NIL NIL))";
const std::string kBody =
    R"((("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 0))"
    R"(("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 8))"
    R"(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 137 )" +
    kInnerEnvelope +
    R"( ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "QUOTED-PRINTABLE" 15 1))"
    R"( 6) "MIXED"))";

std::string flatten(std::vector<Chunk> chunks) {
  std::string out;
  for (const Chunk& c : chunks) {
    if (!c.file) {
      out += c.text;
      continue;
    }
    std::string piece(c.length, '\0');
    REQUIRE(::pread(c.file->get(), piece.data(), piece.size(), static_cast<off_t>(c.offset)) ==
            static_cast<ssize_t>(piece.size()));
    out += piece;
  }
  return out;
}

FetchRequest request(std::string_view items, bool uid = false) {
  auto args = command_args("FETCH 1 " + std::string(items));
  auto parsed = parse_fetch(std::span(args).subspan(1), uid);
  REQUIRE(parsed.has_value());
  return *parsed;
}

struct RenderMailbox {
  StoreFixture fixture;
  store::Store store{fixture.root()};
  std::shared_ptr<store::AccountStore> account = store.account("user@example.com").value();
  store::MailboxId inbox = mailbox_id(*account, "INBOX");

  store::Uid add(const std::string& body, bool with_meta, store::FlagBits flags = 0,
                 std::vector<std::string> keywords = {}) {
    store::NewMessage m = fixture.message(body, flags, std::move(keywords));
    if (with_meta) {
      const mime::MessagePart root = mime::parse_message(body);
      m.meta.structure = mime::serialize(root);
      m.meta.envelope = mime::envelope_to_imap(root.envelope);
    }
    return account->append(inbox, m).value().uid;
  }

  store::MessageInfo info(store::Uid uid) {
    const store::MessageList list = account->list(inbox).value();
    for (const store::MessageInfo& i : list.messages) {
      if (i.uid == uid) return i;
    }
    FAIL("no such message");
    return {};
  }

  // The whole response to FETCH <items> for message `uid` (as sequence number 1).
  std::string fetch(store::Uid uid, std::string_view items) {
    const FetchRequest r = request(items);
    auto content = load_content(*account, inbox, uid, r);
    REQUIRE(content.has_value());
    const store::MessageInfo i = info(uid);
    FetchOutput out;
    REQUIRE(render_fetch(r, FetchMessage{1, &i, {}, false, false}, &*content, out).has_value());
    return flatten(out.take());
  }

  // The value of one item: the response without "* 1 FETCH (" and ")\r\n".
  std::string item(store::Uid uid, std::string_view items) {
    const std::string response = fetch(uid, items);
    REQUIRE(response.starts_with("* 1 FETCH ("));
    REQUIRE(response.ends_with(")\r\n"));
    return response.substr(11, response.size() - 14);
  }
};

}  // namespace

TEST_CASE("imap fetch render: the structure, from the meta or parsed from the file") {
  REQUIRE(kMessage.size() == 588);
  for (bool with_meta : {true, false}) {
    CAPTURE(with_meta);
    RenderMailbox mb;
    const store::Uid uid = mb.add(kMessage, with_meta);
    CHECK(mb.item(uid, "BODYSTRUCTURE") == "BODYSTRUCTURE " + kBodyStructure);
    CHECK(mb.item(uid, "BODY") == "BODY " + kBody);
    CHECK(mb.item(uid, "ENVELOPE") == "ENVELOPE " + kEnvelope);
    // Without meta, the parsed structure was cached for the next time.
    const store::MessageMeta meta = mb.account->meta(mb.inbox, uid).value();
    CHECK(meta.structure == mime::serialize(mime::parse_message(kMessage)));
    CHECK(meta.envelope == kEnvelope);
  }
}

TEST_CASE("imap fetch render: an undecodable meta is replaced") {
  RenderMailbox mb;
  store::NewMessage m = mb.fixture.message(kMessage);
  m.meta.structure = "garbage";
  const store::Uid uid = mb.account->append(mb.inbox, m).value().uid;
  CHECK(mb.item(uid, "BODY") == "BODY " + kBody);
  CHECK(mb.account->meta(mb.inbox, uid).value().structure ==
        mime::serialize(mime::parse_message(kMessage)));
}

TEST_CASE("imap fetch render: body sections through multipart and message/rfc822") {
  RenderMailbox mb;
  const store::Uid uid = mb.add(kMessage, true);
  CHECK(mb.item(uid, "BODY[]") == "BODY[] {588}\r\n" + kMessage);
  CHECK(mb.item(uid, "BODY[HEADER]") == "BODY[HEADER] {236}\r\n" + kHeader);
  CHECK(mb.item(uid, "BODY[TEXT]") == "BODY[TEXT] {352}\r\n" + kText);
  CHECK(mb.item(uid, "BODY[1]") == "BODY[1] {10}\r\nHello Bob.");
  CHECK(mb.item(uid, "BODY[1.MIME]") ==
        "BODY[1.MIME] {46}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
  CHECK(mb.item(uid, "BODY[2]") == "BODY[2] {8}\r\nAAECAwQ=");
  CHECK(mb.item(uid, "BODY[3]") == "BODY[3] {137}\r\n" + kInnerMessage);
  CHECK(mb.item(uid, "BODY[3.MIME]") ==
        "BODY[3.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n");
  CHECK(mb.item(uid, "BODY[3.HEADER]") ==
        "BODY[3.HEADER] {122}\r\n" + kInnerMessage.substr(0, 122));
  CHECK(mb.item(uid, "BODY[3.TEXT]") == "BODY[3.TEXT] {15}\r\ncaf=C3=A9 =\r\nok");
  // The attached message is not multipart: its part 1 is its body.
  CHECK(mb.item(uid, "BODY[3.1]") == "BODY[3.1] {15}\r\ncaf=C3=A9 =\r\nok");
  // Missing parts, and HEADER after a part that holds no message: "".
  CHECK(mb.item(uid, "BODY[4]") == "BODY[4] \"\"");
  CHECK(mb.item(uid, "BODY[1.2]") == "BODY[1.2] \"\"");
  CHECK(mb.item(uid, "BODY[1.HEADER]") == "BODY[1.HEADER] \"\"");
  CHECK(mb.item(uid, "BODY[4.MIME]") == "BODY[4.MIME] \"\"");
  CHECK(mb.item(uid, "RFC822.HEADER") == "RFC822.HEADER {236}\r\n" + kHeader);
  CHECK(mb.item(uid, "RFC822.TEXT") == "RFC822.TEXT {352}\r\n" + kText);
  CHECK(mb.item(uid, "RFC822") == "RFC822 {588}\r\n" + kMessage);
}

TEST_CASE("imap fetch render: HEADER.FIELDS and HEADER.FIELDS.NOT") {
  RenderMailbox mb;
  const store::Uid uid = mb.add(kMessage, true);
  CHECK(mb.item(uid, "BODY.PEEK[HEADER.FIELDS (x-long SUBJECT)]") ==
        "BODY[HEADER.FIELDS (X-LONG SUBJECT)] {44}\r\n"
        "Subject: Test\r\nX-Long: first\r\n continued\r\n\r\n");
  CHECK(mb.item(uid,
                "BODY[HEADER.FIELDS.NOT (FROM TO DATE MESSAGE-ID MIME-VERSION "
                "CONTENT-TYPE X-LONG)]") ==
        "BODY[HEADER.FIELDS.NOT (FROM TO DATE MESSAGE-ID MIME-VERSION CONTENT-TYPE X-LONG)] "
        "{17}\r\nSubject: Test\r\n\r\n");
  CHECK(mb.item(uid, "BODY[HEADER.FIELDS (X-NONE)]") == "BODY[HEADER.FIELDS (X-NONE)] {2}\r\n\r\n");
  CHECK(mb.item(uid, "BODY[3.HEADER.FIELDS (From)]") ==
        "BODY[3.HEADER.FIELDS (FROM)] {35}\r\nFrom: Carol <carol@example.com>\r\n\r\n");
  CHECK(mb.item(uid, "BODY[1.HEADER.FIELDS (From)]") == "BODY[1.HEADER.FIELDS (FROM)] \"\"");
  CHECK(mb.item(uid, "BODY[HEADER.FIELDS (SUBJECT)]<9.100>") ==
        "BODY[HEADER.FIELDS (SUBJECT)]<9> {8}\r\nTest\r\n\r\n");
}

TEST_CASE("imap fetch render: partials clamp to the data and echo only the origin") {
  RenderMailbox mb;
  const store::Uid uid = mb.add(kMessage, true);
  CHECK(mb.item(uid, "BODY[]<0.4>") == "BODY[]<0> {4}\r\nFrom");
  CHECK(mb.item(uid, "BODY.PEEK[1]<6.100>") == "BODY[1]<6> {4}\r\nBob.");
  CHECK(mb.item(uid, "BODY[1]<9.1>") == "BODY[1]<9> {1}\r\n.");
  CHECK(mb.item(uid, "BODY[1]<10.5>") == "BODY[1]<10> \"\"");
  CHECK(mb.item(uid, "BODY[]<587.1000>") == "BODY[]<587> {1}\r\n\n");
  CHECK(mb.item(uid, "BODY[]<4294967296.1>") == "BODY[]<4294967296> \"\"");
}

TEST_CASE("imap fetch render: BINARY decodes leaf parts") {
  RenderMailbox mb;
  const store::Uid uid = mb.add(kMessage, true);
  CHECK(mb.item(uid, "BINARY[2]") == std::string("BINARY[2] ~{5}\r\n\0\1\2\3\4", 21));
  CHECK(mb.item(uid, "BINARY.PEEK[2]<1.2>") == "BINARY[2]<1> {2}\r\n\1\2");
  CHECK(mb.item(uid, "BINARY.SIZE[2]") == "BINARY.SIZE[2] 5");
  CHECK(mb.item(uid, "BINARY[3.1]") == "BINARY[3.1] {8}\r\ncaf\xC3\xA9 ok");
  CHECK(mb.item(uid, "BINARY.SIZE[3.1]") == "BINARY.SIZE[3.1] 8");
  CHECK(mb.item(uid, "BINARY[1]") == "BINARY[1] {10}\r\nHello Bob.");
  CHECK(mb.item(uid, "BINARY[3]") == "BINARY[3] {137}\r\n" + kInnerMessage);
  CHECK(mb.item(uid, "BINARY.SIZE[3]") == "BINARY.SIZE[3] 137");
  CHECK(mb.item(uid, "BINARY[]") == "BINARY[] {588}\r\n" + kMessage);
  CHECK(mb.item(uid, "BINARY[9]") == "BINARY[9] \"\"");
  CHECK(mb.item(uid, "BINARY.SIZE[9]") == "BINARY.SIZE[9] 0");
  CHECK(mb.item(uid, "BINARY[2]<5.1>") == "BINARY[2]<5> \"\"");
}

TEST_CASE("imap fetch render: BINARY of an unknown encoding is an error, nothing written") {
  RenderMailbox mb;
  const store::Uid uid =
      mb.add("Subject: x\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n", true);
  for (const char* items : {"BINARY[1]", "(UID BINARY.SIZE[1])", "(FLAGS BINARY.PEEK[1])"}) {
    CAPTURE(items);
    const FetchRequest r = request(items);
    auto content = load_content(*mb.account, mb.inbox, uid, r).value();
    const store::MessageInfo i = mb.info(uid);
    FetchOutput out;
    auto result = render_fetch(r, FetchMessage{1, &i, {}, false, false}, &content, out);
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error() == FetchError::UnknownCte);
    CHECK(out.empty());
  }
  // The raw section is still there.
  CHECK(mb.item(uid, "BODY[1]") == "BODY[1] {13}\r\nbegin 644 x\r\n");
}

TEST_CASE("imap fetch render: a single-part message") {
  RenderMailbox mb;
  const std::string message = "Subject: one\r\n\r\nbody\r\n";
  const store::Uid uid = mb.add(message, false);
  CHECK(mb.item(uid, "BODY[1]") == "BODY[1] {6}\r\nbody\r\n");
  CHECK(mb.item(uid, "BODY[TEXT]") == "BODY[TEXT] {6}\r\nbody\r\n");
  CHECK(mb.item(uid, "BODY[1.MIME]") == "BODY[1.MIME] {16}\r\nSubject: one\r\n\r\n");
  CHECK(mb.item(uid, "BODY[2]") == "BODY[2] \"\"");
  CHECK(
      mb.item(uid, "BODYSTRUCTURE") ==
      R"(BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 6 1 NIL NIL NIL NIL))");
}

TEST_CASE("imap fetch render: big sections are file ranges, never read") {
  RenderMailbox mb;
  const std::string body(10000, 'x');
  const std::string message = "Subject: big\r\n\r\n" + body;
  const store::Uid uid = mb.add(message, true);
  const FetchRequest r = request("(UID BODY[TEXT] BODY[]<16.5000> BODY[1]<9990.10>)");
  auto content = load_content(*mb.account, mb.inbox, uid, r).value();
  CHECK(content.size == message.size());
  REQUIRE(content.file);
  const store::MessageInfo i = mb.info(uid);
  FetchOutput out;
  REQUIRE(render_fetch(r, FetchMessage{7, &i, {}, false, false}, &content, out).has_value());
  CHECK(out.file_bytes() == 15000);
  const std::vector<Chunk> chunks = out.take();
  CHECK(out.empty());
  REQUIRE(chunks.size() == 5);
  CHECK(chunks[0].text == fmt::format("* 7 FETCH (UID {} BODY[TEXT] {{10000}}\r\n", uid));
  CHECK(chunks[1].file.get() == content.file.get());
  CHECK(chunks[1].offset == 16);
  CHECK(chunks[1].length == 10000);
  CHECK(chunks[2].text == " BODY[]<16> {5000}\r\n");
  CHECK(chunks[3].offset == 16);
  CHECK(chunks[3].length == 5000);
  CHECK(chunks[4].text == " BODY[1]<9990> {10}\r\nxxxxxxxxxx)\r\n");  // small: inline
}

TEST_CASE("imap fetch render: index-only items, without content") {
  store::MessageInfo info;
  info.uid = 42;
  info.flags = store::kFlagSeen | store::kFlagFlagged;
  info.keywords = 0b101;
  info.internal_date = 837596665;
  info.zone_minutes = -420;
  info.size = 1234;
  info.modseq = 99;
  const std::vector<std::string> names = {"$Forwarded", "Work", "$Junk"};
  FetchOutput out;
  const FetchRequest r = request("(FLAGS INTERNALDATE RFC822.SIZE MODSEQ)", true);
  REQUIRE(r.index_only());
  REQUIRE(render_fetch(r, FetchMessage{3, &info, names, true, false}, nullptr, out).has_value());
  REQUIRE(render_fetch(request("FLAGS"), FetchMessage{4, &info, names, false, false}, nullptr, out)
              .has_value());
  const std::string expected =
      "* 3 FETCH (UID 42 FLAGS (\\Seen \\Flagged \\Recent $Forwarded $Junk) "
      "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 1234 MODSEQ (99))\r\n"
      "* 4 FETCH (FLAGS (\\Seen \\Flagged $Forwarded $Junk))\r\n";
  CHECK(out.text_bytes() == expected.size());
  const std::vector<Chunk> chunks = out.take();
  REQUIRE(chunks.size() == 1);  // adjacent text is one chunk
  CHECK(chunks[0].text == expected);
}

TEST_CASE("imap fetch render: FLAGS follows when \\Seen was just set") {
  RenderMailbox mb;
  const store::Uid uid = mb.add(kMessage, true, store::kFlagSeen, {"Work"});
  const FetchRequest r = request("BODY[1]", true);
  auto content = load_content(*mb.account, mb.inbox, uid, r).value();
  const store::MessageInfo i = mb.info(uid);
  const std::vector<std::string> names = mb.account->list(mb.inbox).value().keyword_names;
  FetchOutput out;
  REQUIRE(render_fetch(r, FetchMessage{2, &i, names, false, true}, &content, out).has_value());
  CHECK(
      flatten(out.take()) ==
      fmt::format("* 2 FETCH (UID {} BODY[1] {{10}}\r\nHello Bob. FLAGS (\\Seen Work))\r\n", uid));
  // Not twice when FLAGS was asked for.
  const FetchRequest both = request("(FLAGS BODY[1])");
  REQUIRE(render_fetch(both, FetchMessage{2, &i, names, false, true}, &content, out).has_value());
  CHECK(flatten(out.take()) == "* 2 FETCH (FLAGS (\\Seen Work) BODY[1] {10}\r\nHello Bob.)\r\n");
}

TEST_CASE("imap fetch render: load_content loads only what is needed") {
  RenderMailbox mb;
  const store::Uid uid = mb.add(kMessage, true);
  auto index = load_content(*mb.account, mb.inbox, uid, request("(FLAGS UID)")).value();
  CHECK_FALSE(index.structure.has_value());
  CHECK_FALSE(index.file);
  CHECK(index.envelope.empty());
  auto envelope = load_content(*mb.account, mb.inbox, uid, request("ENVELOPE")).value();
  CHECK(envelope.envelope == kEnvelope);
  CHECK_FALSE(envelope.file);
  CHECK_FALSE(envelope.structure.has_value());
  auto whole = load_content(*mb.account, mb.inbox, uid, request("BODY.PEEK[]")).value();
  CHECK(whole.file);
  CHECK(whole.size == kMessage.size());
  CHECK(load_content(*mb.account, mb.inbox, uid + 1, request("BODY[]")).error() ==
        store::StoreError::NoSuchMessage);
  CHECK(load_content(*mb.account, mb.inbox, uid + 1, request("ENVELOPE")).error() ==
        store::StoreError::NoSuchMessage);
}

TEST_CASE("imap fetch render: FetchOutput merges adjacent text") {
  FetchOutput out;
  auto fd = std::make_shared<const store::UniqueFd>();
  out.text("a");
  out.text("b");
  out.file(fd, 0, 0);  // empty ranges are dropped
  CHECK(out.text_bytes() == 2);
  out.file(fd, 5, 10);
  out.text("c");
  CHECK(out.text_bytes() == 3);
  CHECK(out.file_bytes() == 10);
  const std::vector<Chunk> chunks = out.take();
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0].text == "ab");
  CHECK(chunks[1].offset == 5);
  CHECK(chunks[1].length == 10);
  CHECK(chunks[2].text == "c");
  CHECK(out.text_bytes() == 0);
}

TEST_CASE("imap fetch render: the header filter does not depend on chunking") {
  const std::string header =
      "From: a\r\nSubject : one\r\n\ttwo\r\nbroken line\r\nX-A: 1\r\n\r\nbody: no\r\n";
  const std::vector<std::string> fields = {"SUBJECT", "X-A"};
  for (bool exclude : {false, true}) {
    std::string whole;
    HeaderFieldFilter filter(fields, exclude);
    filter.feed(header, whole);
    filter.finish(whole);
    CHECK(whole == (exclude ? "From: a\r\nbroken line\r\n\r\n"
                            : "Subject : one\r\n\ttwo\r\nX-A: 1\r\n\r\n"));
    for (std::size_t cut = 0; cut <= header.size(); ++cut) {
      std::string split;
      HeaderFieldFilter f(fields, exclude);
      f.feed(std::string_view(header).substr(0, cut), split);
      f.feed(std::string_view(header).substr(cut), split);
      f.finish(split);
      CAPTURE(cut);
      CHECK(split == whole);
    }
  }
  // A header without its blank line still gets one; an unterminated last line too.
  std::string out;
  HeaderFieldFilter f(fields, false);
  f.feed("X-A: 1", out);
  f.finish(out);
  CHECK(out == "X-A: 1\r\n\r\n");
}
