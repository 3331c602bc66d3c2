#include "backend/imap/fetch_request.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/unit/backend/imap/imap_test_support.hpp"

using namespace postern::node::imap;
using postern::node::imap::test::command_args;
using Kind = FetchItem::Kind;

namespace {

// Parses the items of "FETCH 1 <items>".
tl::expected<FetchRequest, std::string> parse(std::string_view items, bool uid = false) {
  auto args = command_args("FETCH 1 " + std::string(items));
  return parse_fetch(std::span(args).subspan(1), uid);
}

std::vector<std::string> names(const FetchRequest& r) {
  std::vector<std::string> out;
  for (const FetchItem& item : r.items) out.push_back(item.name);
  return out;
}

}  // namespace

TEST_CASE("imap fetch request: macros") {
  CHECK(names(parse("ALL").value()) ==
        std::vector<std::string>{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"});
  CHECK(names(parse("fast").value()) ==
        std::vector<std::string>{"FLAGS", "INTERNALDATE", "RFC822.SIZE"});
  CHECK(names(parse("FULL").value()) ==
        std::vector<std::string>{"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"});
  CHECK_FALSE(parse("(ALL)").has_value());  // a macro is not a fetch-att
  CHECK(parse("FAST").value().index_only());
  CHECK_FALSE(parse("ALL").value().index_only());
}

TEST_CASE("imap fetch request: simple items, in order, case-insensitive") {
  auto r = parse(
      "(uid Flags INTERNALDATE rfc822.size ENVELOPE body BODYSTRUCTURE RFC822 "
      "RFC822.HEADER RFC822.TEXT MODSEQ)");
  REQUIRE(r.has_value());
  std::vector<Kind> kinds;
  for (const FetchItem& item : r->items) kinds.push_back(item.kind);
  CHECK(kinds == std::vector<Kind>{Kind::Uid, Kind::Flags, Kind::InternalDate, Kind::Rfc822Size,
                                   Kind::Envelope, Kind::Body, Kind::BodyStructure, Kind::Rfc822,
                                   Kind::Rfc822Header, Kind::Rfc822Text, Kind::ModSeq});
  CHECK(names(*r) == std::vector<std::string>{"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE",
                                              "ENVELOPE", "BODY", "BODYSTRUCTURE", "RFC822",
                                              "RFC822.HEADER", "RFC822.TEXT", "MODSEQ"});
  CHECK(r->needs_structure());
  CHECK(r->needs_file());
  CHECK(r->needs_envelope());
  CHECK(r->sets_seen());
  CHECK_FALSE(r->index_only());
}

TEST_CASE("imap fetch request: body sections") {
  auto r = parse(
      "(BODY[] BODY.PEEK[HEADER] body[1.2.TEXT] BODY[3.MIME] "
      "BODY.PEEK[HEADER.FIELDS (From \"To\" x-Spam)]<0.1024> "
      "BODY[2.HEADER.FIELDS.NOT (SUBJECT)] BODY[4.2.1]<10.20>)");
  REQUIRE(r.has_value());
  REQUIRE(r->items.size() == 7);
  CHECK(names(*r) ==
        std::vector<std::string>{"BODY[]", "BODY[HEADER]", "BODY[1.2.TEXT]", "BODY[3.MIME]",
                                 "BODY[HEADER.FIELDS (FROM TO X-SPAM)]<0>",
                                 "BODY[2.HEADER.FIELDS.NOT (SUBJECT)]", "BODY[4.2.1]<10>"});
  const FetchItem& fields = r->items[4];
  CHECK(fields.kind == Kind::BodySection);
  CHECK(fields.peek);
  CHECK(fields.section.kind == Section::Kind::HeaderFields);
  CHECK(fields.section.part == "");
  CHECK(fields.section.fields == std::vector<std::string>{"FROM", "TO", "X-SPAM"});
  CHECK(fields.partial == std::pair<std::uint64_t, std::uint64_t>{0, 1024});
  CHECK_FALSE(r->items[0].peek);
  CHECK(r->items[0].section == Section{});
  CHECK(r->items[2].section.part == "1.2");
  CHECK(r->items[2].section.kind == Section::Kind::Text);
  CHECK(r->items[3].section.kind == Section::Kind::Mime);
  CHECK(r->items[6].section.part == "4.2.1");
  CHECK(r->items[6].section.kind == Section::Kind::All);
  CHECK(r->sets_seen());
  CHECK(r->needs_structure());
}

TEST_CASE("imap fetch request: what a request needs") {
  auto whole = parse("BODY.PEEK[]").value();
  CHECK_FALSE(whole.needs_structure());
  CHECK(whole.needs_file());
  CHECK_FALSE(whole.sets_seen());
  CHECK_FALSE(whole.needs_envelope());

  auto header = parse("RFC822.HEADER").value();
  CHECK(header.needs_structure());
  CHECK_FALSE(header.sets_seen());  // RFC822.HEADER is BODY.PEEK[HEADER]

  auto envelope = parse("ENVELOPE").value();
  CHECK(envelope.needs_envelope());
  CHECK_FALSE(envelope.needs_file());
  CHECK_FALSE(envelope.needs_structure());

  auto body = parse("BODYSTRUCTURE").value();
  CHECK(body.needs_structure());
  CHECK_FALSE(body.needs_file());

  CHECK(parse("RFC822.TEXT").value().sets_seen());
  CHECK(parse("BINARY[1]").value().sets_seen());
  CHECK_FALSE(parse("BINARY.PEEK[1]").value().sets_seen());
  CHECK_FALSE(parse("BINARY.SIZE[1]").value().sets_seen());
  CHECK(parse("(UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ)").value().index_only());
}

TEST_CASE("imap fetch request: BINARY items") {
  auto r = parse("(BINARY[1.2] BINARY.PEEK[]<5.6> BINARY.SIZE[3])");
  REQUIRE(r.has_value());
  CHECK(names(*r) == std::vector<std::string>{"BINARY[1.2]", "BINARY[]<5>", "BINARY.SIZE[3]"});
  CHECK(r->items[0].kind == Kind::Binary);
  CHECK_FALSE(r->items[0].peek);
  CHECK(r->items[1].peek);
  CHECK(r->items[2].kind == Kind::BinarySize);
  CHECK(r->needs_structure());
  CHECK(r->needs_file());
  CHECK_FALSE(parse("BINARY[1.HEADER]").has_value());
  CHECK_FALSE(parse("BINARY[TEXT]").has_value());
  CHECK_FALSE(parse("BINARY.SIZE[1]<0.5>").has_value());
}

TEST_CASE("imap fetch request: UID FETCH and CHANGEDSINCE add items") {
  CHECK(names(parse("FLAGS", true).value()) == std::vector<std::string>{"UID", "FLAGS"});
  CHECK(names(parse("(FLAGS UID)", true).value()) == std::vector<std::string>{"FLAGS", "UID"});
  auto r = parse("(FLAGS) (CHANGEDSINCE 12345)", true);
  REQUIRE(r.has_value());
  CHECK(r->changed_since == 12345u);
  CHECK(names(*r) == std::vector<std::string>{"UID", "FLAGS", "MODSEQ"});
  CHECK(names(parse("(MODSEQ FLAGS) (changedsince 0)").value()) ==
        std::vector<std::string>{"MODSEQ", "FLAGS"});
  CHECK_FALSE(parse("FLAGS (CHANGEDSINCE)").has_value());
  CHECK_FALSE(parse("FLAGS (CHANGEDSINCE x)").has_value());
  CHECK_FALSE(parse("FLAGS (CHANGEDSINCE 9223372036854775808)").has_value());
  CHECK(parse("FLAGS (CHANGEDSINCE 9223372036854775807)").has_value());
  CHECK_FALSE(parse("FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)").has_value());
  CHECK_FALSE(parse("FLAGS (VANISHED)").has_value());
  CHECK_FALSE(parse("FLAGS ()").has_value());
}

TEST_CASE("imap fetch request: duplicates are merged") {
  auto r = parse("(FLAGS BODY.PEEK[1] FLAGS BODY[1] BODY[1]<0.5> BODY[1]<0.6>)");
  REQUIRE(r.has_value());
  CHECK(names(*r) == std::vector<std::string>{"FLAGS", "BODY[1]", "BODY[1]<0>", "BODY[1]<0>"});
  CHECK_FALSE(r->items[1].peek);  // BODY[1] without PEEK was asked for too
}

TEST_CASE("imap fetch request: syntax errors are for a tagged BAD") {
  for (const char* items : {"()",
                            "FOO",
                            "(FLAGS FOO)",
                            "BODY[0]",
                            "BODY[01]",
                            "BODY[1.]",
                            "BODY[.1]",
                            "BODY[1..2]",
                            "BODY[MIME]",
                            "BODY[HEADER.FIELDS]",
                            "BODY[HEADER.FIELDS ()]",
                            "BODY[HEADER.FIELDS (A:B)]",
                            "BODY[HEADER.FIELDS (FROM]",
                            "BODY[TEXT.HEADER]",
                            "BODY[1.FOO]",
                            "BODY[]<>",
                            "BODY[]<1>",
                            "BODY[]<1.0>",
                            "BODY[]<a.b>",
                            "BODY[]x",
                            "BODY[4294967296]",
                            "BODY.PEK[]",
                            "(\"FLAGS\")",
                            "(FLAGS (UID))",
                            "\"FLAGS\""}) {
    CAPTURE(items);
    auto r = parse(items);
    CHECK_FALSE(r.has_value());
    if (!r) CHECK_FALSE(r.error().empty());
  }
  auto args = command_args("FETCH 1 FLAGS (CHANGEDSINCE 1) EXTRA");
  CHECK_FALSE(parse_fetch(std::span(args).subspan(1), false).has_value());
  CHECK_FALSE(parse_fetch({}, false).has_value());
}

TEST_CASE("imap fetch request: section_text") {
  CHECK(section_text(Section{}) == "");
  CHECK(section_text(Section{"1.2", Section::Kind::All, {}}) == "1.2");
  CHECK(section_text(Section{"", Section::Kind::Header, {}}) == "HEADER");
  CHECK(section_text(Section{"2", Section::Kind::HeaderFieldsNot, {"A", "B"}}) ==
        "2.HEADER.FIELDS.NOT (A B)");
  CHECK(section_text(Section{"3", Section::Kind::Mime, {}}) == "3.MIME");
}
