#include "backend/mime/header.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using postern::node::mime::find_field;
using postern::node::mime::HeaderCollector;
using postern::node::mime::HeaderField;

namespace {

std::vector<HeaderField> collect(const std::vector<std::string>& lines,
                                 std::size_t max_bytes = 1 << 20, std::size_t max_fields = 100) {
  HeaderCollector c(max_bytes, max_fields);
  for (const auto& line : lines) c.add_line(line, line.size());
  return c.take_fields();
}

}  // namespace

TEST_CASE("mime header: fields are split at the first colon and trimmed") {
  auto f = collect({"Subject:  Hello: world  ", "X-Empty:", "To :bob@example.net"});
  REQUIRE(f.size() == 3);
  CHECK(f[0] == HeaderField{"Subject", "Hello: world"});
  CHECK(f[1] == HeaderField{"X-Empty", ""});
  CHECK(f[2] == HeaderField{"To", "bob@example.net"});  // obsolete blank before the colon
}

TEST_CASE("mime header: continuation lines are unfolded, keeping their blanks") {
  auto f = collect({"Subject: Hello", " there", "\tand\t you", "From: a@b"});
  REQUIRE(f.size() == 2);
  CHECK(f[0].value == "Hello there\tand\t you");
  CHECK(f[1].value == "a@b");
}

TEST_CASE("mime header: lines that are not fields are skipped") {
  auto f = collect({" orphan continuation", "From foo@bar Tue Jan 1 10:00:00 2024", "no colon",
                    "Bad Name: x", "\xC3\xA4: 8-bit name", "Good: yes", " folded"});
  REQUIRE(f.size() == 1);
  CHECK(f[0] == HeaderField{"Good", "yes folded"});
}

TEST_CASE("mime header: 8-bit values are kept byte for byte") {
  auto f =
      collect({"Subject: Gr\xC3\xBC\xC3\x9F"
               "e \xE9\xFF"});
  REQUIRE(f.size() == 1);
  CHECK(f[0].value ==
        "Gr\xC3\xBC\xC3\x9F"
        "e \xE9\xFF");
}

TEST_CASE("mime header: the byte limit drops the rest, and the field it cuts") {
  // "A: 1" costs 4 + 2 bytes, "B: 2" another 6: a 15-byte budget has room for
  // both but not for "C: 3".
  auto f = collect({"A: 1", "B: 2", "C: 3", "D: 4"}, 15);
  REQUIRE(f.size() == 2);
  CHECK(f[1].name == "B");

  // The limit falls inside a folded field: that field is dropped entirely.
  f = collect({"A: 1", "B: long", " continued"}, 20);
  REQUIRE(f.size() == 1);
  CHECK(f[0].name == "A");
}

TEST_CASE("mime header: a line cut short by the caller ends collection") {
  HeaderCollector c(100, 100);
  c.add_line("A: 1", 4);
  c.add_line("B: tru", 5000);  // the caller kept only a prefix
  c.add_line("C: 3", 4);
  auto f = c.take_fields();
  REQUIRE(f.size() == 1);
  CHECK(f[0].name == "A");
  CHECK(c.remaining() == 0);
}

TEST_CASE("mime header: the field-count limit keeps the first fields") {
  std::vector<std::string> lines;
  for (int i = 0; i < 50; ++i) lines.push_back("X-" + std::to_string(i) + ": v");
  auto f = collect(lines, 1 << 20, 10);
  REQUIRE(f.size() == 10);
  CHECK(f[9].name == "X-9");
}

TEST_CASE("mime header: remaining() counts down the budget") {
  HeaderCollector c(100, 10);
  CHECK(c.remaining() == 100);
  c.add_line("Subject: x", 10);
  CHECK(c.remaining() == 88);
}

TEST_CASE("mime header: find_field matches names case-insensitively, first wins") {
  auto f = collect({"content-type: text/html", "Content-Type: text/plain"});
  const HeaderField* ct = find_field(f, "CONTENT-TYPE");
  REQUIRE(ct != nullptr);
  CHECK(ct->value == "text/html");
  CHECK(find_field(f, "Subject") == nullptr);
}
