#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "backend/imap/search_program.hpp"
#include "core/imap_parser.hpp"

using namespace postern::node::imap;
using postern::core::imap::ImapParser;
using postern::core::imap::Status;
using postern::core::imap::Token;

namespace {

// The arguments of "t SEARCH <text>", as the command parser produces them.
std::vector<Token> tokens(const std::string& text) {
  ImapParser parser;
  const std::string line = "t SEARCH " + text + "\r\n";
  auto r = parser.feed(line);
  REQUIRE(r.status == Status::Command);
  REQUIRE(r.consumed == line.size());
  return r.command.args;
}

// The parsed program as text (the root is always an AND group).
std::string parsed(const std::string& text) {
  auto args = tokens(text);
  auto program = parse_search(args);
  if (!program) return "error: " + program.error().message;
  REQUIRE(program->root.kind == SearchKey::Kind::And);
  return to_string(program->root);
}

SearchParseError error_of(const std::string& text) {
  auto args = tokens(text);
  auto program = parse_search(args);
  REQUIRE_FALSE(program.has_value());
  return program.error();
}

}  // namespace

TEST_CASE("search parser: every key without an argument") {
  CHECK(parsed("ALL") == "(ALL)");
  CHECK(parsed("ANSWERED DELETED DRAFT FLAGGED SEEN") == "(ANSWERED DELETED DRAFT FLAGGED SEEN)");
  CHECK(parsed("UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN") ==
        "((NOT ANSWERED) (NOT DELETED) (NOT DRAFT) (NOT FLAGGED) (NOT SEEN))");
  CHECK(parsed("RECENT") == "(RECENT)");
  CHECK(parsed("NEW") == "((RECENT (NOT SEEN)))");
  CHECK(parsed("OLD") == "((NOT RECENT))");
}

TEST_CASE("search parser: key names are case-insensitive") {
  CHECK(parsed("all unseen Subject x") == "(ALL (NOT SEEN) SUBJECT \"x\")");
}

TEST_CASE("search parser: string keys take atoms, quoted strings and literals") {
  CHECK(parsed("FROM alice") == "(FROM \"alice\")");
  CHECK(parsed("TO \"bob smith\"") == "(TO \"bob smith\")");
  CHECK(parsed("CC {3+}\r\nc c") == "(CC \"c c\")");
  CHECK(parsed("BCC nil") == "(BCC \"nil\")");
  CHECK(parsed("SUBJECT \"\"") == "(SUBJECT \"\")");
  CHECK(parsed("BODY hello TEXT \"h\\\"i\"") == "(BODY \"hello\" TEXT \"h\"i\")");
  CHECK(parsed("HEADER X-Spam-Flag YES") == "(HEADER X-Spam-Flag \"YES\")");
  CHECK(parsed("HEADER \"List-Id\" \"\"") == "(HEADER List-Id \"\")");
  // HEADER searches every such field as written, SUBJECT the envelope field.
  CHECK(parsed("HEADER Subject x") == "(HEADER Subject \"x\")");
  CHECK(parsed("SUBJECT {6+}\r\ncaf\xc3\xa9!") == "(SUBJECT \"caf\xc3\xa9!\")");
}

TEST_CASE("search parser: keywords") {
  CHECK(parsed("KEYWORD $Forwarded") == "(KEYWORD $Forwarded)");
  CHECK(parsed("UNKEYWORD Work") == "((NOT KEYWORD Work))");
}

TEST_CASE("search parser: dates") {
  CHECK(parsed("BEFORE 1-Feb-1994") == "(BEFORE 1994-02-01)");
  CHECK(parsed("ON \"01-feb-1994\"") == "(ON 1994-02-01)");
  CHECK(parsed("SINCE 29-Feb-2024") == "(SINCE 2024-02-29)");
  CHECK(parsed("SENTBEFORE 31-Dec-1969") == "(SENTBEFORE 1969-12-31)");
  CHECK(parsed("SENTON 1-Jan-2000 SENTSINCE 2-Jan-2000") ==
        "(SENTON 2000-01-01 SENTSINCE 2000-01-02)");
}

TEST_CASE("search parser: sizes, sets and MODSEQ") {
  CHECK(parsed("LARGER 1000 SMALLER 0") == "(LARGER 1000 SMALLER 0)");
  CHECK(parsed("1:* 2,4:6") == "(1:* 2,4:6)");
  CHECK(parsed("UID 5:*") == "(UID 5:*)");
  CHECK(parsed("MODSEQ 620162338") == "(MODSEQ 620162338)");
  CHECK(parsed("MODSEQ \"/flags/\\\\draft\" all 620162338") == "(MODSEQ 620162338)");
  CHECK(parsed("MODSEQ 0") == "(MODSEQ 0)");
  CHECK(parsed("MODSEQ 9223372036854775807") == "(MODSEQ 9223372036854775807)");
}

TEST_CASE("search parser: OR, NOT and groups") {
  CHECK(parsed("OR SEEN FLAGGED") == "((OR SEEN FLAGGED))");
  CHECK(parsed("NOT NOT DELETED") == "((NOT (NOT DELETED)))");
  CHECK(parsed("OR (SEEN FROM a) NOT (1:3)") == "((OR (SEEN FROM \"a\") (NOT (1:3))))");
  CHECK(parsed("(OR (OR ANSWERED DRAFT) (DELETED)) UID 1") ==
        "(((OR ((OR ANSWERED DRAFT)) (DELETED))) UID 1)");
}

TEST_CASE("search parser: CHARSET") {
  CHECK(parsed("CHARSET UTF-8 SUBJECT x") == "(SUBJECT \"x\")");
  CHECK(parsed("charset \"us-ascii\" ALL") == "(ALL)");
  auto bad = error_of("CHARSET KOI8-R SUBJECT x");
  CHECK(bad.bad_charset);
  CHECK_FALSE(error_of("CHARSET").bad_charset);
  CHECK_FALSE(error_of("CHARSET UTF-8").bad_charset);
  // CHARSET is only recognised first.
  CHECK_FALSE(error_of("ALL CHARSET UTF-8").bad_charset);
}

TEST_CASE("search parser: errors") {
  CHECK(parse_search({}).error().message == "Missing search criteria");
  const char* missing[] = {
      "FROM",      "TO",        "CC",     "BCC",        "SUBJECT",
      "BODY",      "TEXT",      "HEADER", "HEADER X-A", "KEYWORD",
      "UNKEYWORD", "BEFORE",    "ON",     "SINCE",      "SENTBEFORE",
      "SENTON",    "SENTSINCE", "LARGER", "SMALLER",    "UID",
      "MODSEQ",    "NOT",       "OR",     "OR SEEN",    "MODSEQ \"/flags/\\\\seen\" all"};
  for (const char* text : missing) {
    CAPTURE(text);
    const auto e = error_of(text);
    CHECK_FALSE(e.bad_charset);
    CHECK_FALSE(e.message.empty());
  }
  CHECK(error_of("FROM").message == "Missing argument to FROM");
  CHECK(error_of("BEFORE 30-Feb-2024").message == "Invalid date after BEFORE");
  CHECK(error_of("SINCE 2024-01-01").message == "Invalid date after SINCE");
  CHECK(error_of("ON (1-Jan-2024)").message == "Invalid date after ON");
  CHECK(error_of("LARGER 12k").message == "Invalid number after LARGER");
  CHECK(error_of("SMALLER -1").message == "Invalid number after SMALLER");
  CHECK(error_of("LARGER 99999999999999999999").message == "Invalid number after LARGER");
  CHECK(error_of("MODSEQ 9223372036854775808").message == "Invalid number after MODSEQ");
  CHECK(error_of("MODSEQ \"/flags/\\\\seen\" mine 5").message == "Invalid entry type after MODSEQ");
  CHECK(error_of("UID 0").message == "Invalid UID set");
  CHECK(error_of("UID \"1:2\"").message == "Bad argument to UID");
  CHECK(error_of("FOO").message == "Unknown search key FOO");
  CHECK(error_of("1:2:3").message == "Unknown search key 1:2:3");
  CHECK(error_of("\"ALL\"").message == "Search key expected");
  CHECK(error_of("()").message == "Empty search key group");
  CHECK(error_of("(SEEN ())").message == "Empty search key group");
  CHECK(error_of("SUBJECT (a)").message == "Bad argument to SUBJECT");
  CHECK(error_of("(OR SEEN) FLAGGED").message == "Missing search key after OR");
}

TEST_CASE("search parser: nesting and size limits") {
  std::string deep;
  for (std::size_t i = 0; i + 1 < kMaxSearchDepth; ++i) deep += "NOT ";
  CHECK(parsed(deep + "SEEN").starts_with("((NOT (NOT"));
  CHECK(error_of(deep + "NOT SEEN").message == "Search criteria nested too deeply");
  std::string ors;
  for (std::size_t i = 0; i < kMaxSearchDepth; ++i) ors += "OR SEEN ";
  CHECK(error_of(ors + "SEEN").message == "Search criteria nested too deeply");
  // Groups count towards the depth too (the command parser allows 16 levels).
  std::string groups;
  for (int i = 0; i < 15; ++i) groups += "(NOT NOT NOT NOT ";
  groups += "SEEN";
  for (int i = 0; i < 15; ++i) groups += ")";
  CHECK(error_of(groups).message == "Search criteria nested too deeply");
  std::string many;
  for (std::size_t i = 0; i < kMaxSearchKeys; ++i) many += "SEEN ";
  CHECK(parse_search(tokens(many)).has_value());
  CHECK(error_of(many + "SEEN").message == "Too many search keys");
}

TEST_CASE("search program: needs_content and uses_modseq") {
  auto program = [](const std::string& text) { return parse_search(tokens(text)).value(); };
  const char* index_only[] = {"ALL",
                              "SEEN UNSEEN",
                              "NEW OLD RECENT",
                              "KEYWORD a",
                              "UNKEYWORD a",
                              "BEFORE 1-Jan-2000 ON 1-Jan-2000 SINCE 1-Jan-2000",
                              "LARGER 1 SMALLER 2",
                              "1:* UID 1",
                              "MODSEQ 1",
                              "OR SEEN NOT 1"};
  for (const char* text : index_only) {
    CAPTURE(text);
    CHECK_FALSE(program(text).needs_content());
  }
  const char* content[] = {"BCC a",
                           "BODY a",
                           "CC a",
                           "FROM a",
                           "HEADER a b",
                           "SUBJECT a",
                           "TEXT a",
                           "TO a",
                           "SENTBEFORE 1-Jan-2000",
                           "SENTON 1-Jan-2000",
                           "SENTSINCE 1-Jan-2000",
                           "OR SEEN (NOT (TEXT a))"};
  for (const char* text : content) {
    CAPTURE(text);
    CHECK(program(text).needs_content());
  }
  CHECK(program("OR SEEN (MODSEQ 5)").uses_modseq());
  CHECK_FALSE(program("SEEN").uses_modseq());
}
