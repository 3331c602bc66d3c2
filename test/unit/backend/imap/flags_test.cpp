#include "backend/imap/flags.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/unit/backend/imap/imap_test_support.hpp"

using namespace postern::node;
using namespace postern::node::imap;
using postern::node::imap::test::command_args;

namespace {

tl::expected<FlagList, std::string> parse_list(std::string_view text, bool single = false) {
  auto args = command_args("X " + std::string(text));
  REQUIRE(args.size() == 1);
  return parse_flag_list(args[0], single);
}

}  // namespace

TEST_CASE("imap flags: format_flags writes system flags, \\Recent, then keywords by bit") {
  const std::vector<std::string> names = {"$Forwarded", "Work", "$Junk"};
  CHECK(format_flags(0, 0, names, false) == "()");
  CHECK(format_flags(store::kFlagSeen | store::kFlagAnswered, 0b001, names, true) ==
        "(\\Seen \\Answered \\Recent $Forwarded)");
  CHECK(format_flags(store::kFlagDraft | store::kFlagDeleted | store::kFlagFlagged, 0b110, names,
                     false) == "(\\Flagged \\Deleted \\Draft Work $Junk)");
  // A bit without a name (a table that ended early) is ignored.
  CHECK(format_flags(0, std::uint64_t{1} << 40, names, false) == "()");
  CHECK(format_flags(0, 0, {}, true) == "(\\Recent)");

  std::string out = "FLAGS ";
  append_flags(out, store::kFlagSeen, 0b010, names, false);
  CHECK(out == "FLAGS (\\Seen Work)");
}

TEST_CASE("imap flags: parse_flag_list accepts lists of system flags and keywords") {
  auto parsed = parse_list("(\\Seen \\DELETED $Forwarded work \\answered)");
  REQUIRE(parsed.has_value());
  CHECK(parsed->flags == (store::kFlagSeen | store::kFlagDeleted | store::kFlagAnswered));
  CHECK(parsed->keywords == std::vector<std::string>{"$Forwarded", "work"});

  auto empty = parse_list("()");
  REQUIRE(empty.has_value());
  CHECK(empty->flags == 0);
  CHECK(empty->keywords.empty());

  // Keywords are matched without regard to case: the first spelling is kept.
  auto dup = parse_list("(Work WORK \\Seen \\seen)");
  REQUIRE(dup.has_value());
  CHECK(dup->keywords == std::vector<std::string>{"Work"});
  CHECK(dup->flags == store::kFlagSeen);
}

TEST_CASE("imap flags: a single atom only where STORE allows it") {
  CHECK_FALSE(parse_list("\\Seen").has_value());
  auto single = parse_list("\\Flagged", true);
  REQUIRE(single.has_value());
  CHECK(single->flags == store::kFlagFlagged);
  auto keyword = parse_list("$Label1", true);
  REQUIRE(keyword.has_value());
  CHECK(keyword->keywords == std::vector<std::string>{"$Label1"});
}

TEST_CASE("imap flags: \\Recent, unknown system flags and bad keywords are refused") {
  CHECK_FALSE(parse_list("(\\Recent)").has_value());
  CHECK_FALSE(parse_list("(\\Seen \\Important)").has_value());
  CHECK_FALSE(parse_list("(\\)").has_value());
  CHECK_FALSE(parse_list("(\"quoted\")").has_value());
  CHECK_FALSE(parse_list("(a%b)").has_value());
  CHECK_FALSE(parse_list("(a*)").has_value());
  CHECK_FALSE(parse_list("(a])").has_value());
  CHECK_FALSE(parse_list("((\\Seen))").has_value());
  CHECK(parse_list("(\\Recent)").error() == "\\Recent cannot be set");
}

TEST_CASE("imap flags: STORE's bare flags") {
  auto args = command_args("X \\Seen \\Deleted Junk");
  auto parsed = parse_store_flags(args);
  REQUIRE(parsed.has_value());
  CHECK(parsed->flags == (store::kFlagSeen | store::kFlagDeleted));
  CHECK(parsed->keywords == std::vector<std::string>{"Junk"});

  auto list = command_args("X (\\Draft)");
  CHECK(parse_store_flags(list)->flags == store::kFlagDraft);
  CHECK_FALSE(parse_store_flags({}).has_value());
  CHECK_FALSE(parse_store_flags(command_args("X \\Seen (\\Deleted)")).has_value());
  CHECK_FALSE(parse_store_flags(command_args("X \\Seen \\Recent")).has_value());
}

TEST_CASE("imap flags: FLAGS and PERMANENTFLAGS lists") {
  const std::vector<std::string> names = {"$Forwarded", "Work"};
  CHECK(format_flag_names({}, false) == "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
  CHECK(format_flag_names(names, true) ==
        "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Work \\*)");
}
