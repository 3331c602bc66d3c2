#include "mapping/file_map.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test/unit/split_feed.hpp"

using postern::mapping::Address;
using postern::mapping::FileMapKeyKind;
using postern::mapping::FileMapParser;
using postern::mapping::FileMapParseResult;

namespace {

const std::string kHash6 =
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq."
    "H91p5hVO1";
const std::string kHashY =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";

struct Parsed {
  FileMapParseResult result;
  std::size_t max_buffered = 0;
};

Parsed parse_chunks(const std::vector<std::string_view>& chunks, std::size_t max_line) {
  FileMapParser parser(max_line);
  Parsed out;
  for (auto chunk : chunks) {
    parser.feed(chunk);
    out.max_buffered = std::max(out.max_buffered, parser.buffered_bytes());
  }
  out.result = parser.finish();
  return out;
}

char kind_letter(FileMapKeyKind k) {
  switch (k) {
    case FileMapKeyKind::User:
      return 'U';
    case FileMapKeyKind::Domain:
      return 'D';
    case FileMapKeyKind::Any:
      return 'A';
  }
  return '?';
}

// Everything the parser produced, plus whether it ever held more than one line's worth.
std::string summary(const Parsed& p, std::size_t max_line) {
  std::string s;
  for (const auto& e : p.result.map.entries()) {
    s += std::to_string(e.line) + " " + kind_letter(e.kind) + " " + e.key + " -> " + e.node;
    if (!e.hash.empty()) s += " " + e.hash;
    s += "\n";
  }
  for (const auto& e : p.result.errors)
    s += "error " + std::to_string(e.line) + ": " + e.reason + "\n";
  if (p.max_buffered > max_line + 1) s += "buffered " + std::to_string(p.max_buffered) + "\n";
  return s;
}

// Parses `input` whole, after checking that every way of splitting it gives the same result.
FileMapParseResult parse(std::string_view input, std::size_t max_line = 4096) {
  auto mismatch = postern::test::check_split_invariance(
      input, [&](const std::vector<std::string_view>& chunks) {
        return summary(parse_chunks(chunks, max_line), max_line);
      });
  CHECK_MESSAGE(mismatch.empty(), mismatch);
  return parse_chunks({input}, max_line).result;
}

Address addr(std::string local, std::string domain) {
  return Address{std::move(local), std::move(domain)};
}

// The one error of a single bad line, with its line number.
std::string only_error(const FileMapParseResult& r, std::size_t line) {
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == line);
  return r.errors[0].reason;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_SUITE("file_map") {
  TEST_CASE("a valid map with every kind of key, comments and blank lines") {
    const std::string input =
        "# users.map\n"
        "\n"
        "alice@example.com node1 " +
        kHash6 +
        "\n"
        "  Bob@Example.COM\tnode2   # no password: routed only\n"
        "carol@example.org node-1.b_c " +
        kHashY +
        "\n"
        "   \t  \n"
        "@example.net node3\n"
        "*\tnode4\n"
        "\t# an indented comment\n";
    auto r = parse(input);
    CHECK(r.ok());
    CHECK(r.map.size() == 5);
    auto entries = r.map.entries();
    REQUIRE(entries.size() == 5);
    CHECK(entries[0].line == 3);
    CHECK(entries[0].kind == FileMapKeyKind::User);
    CHECK(entries[0].hash == kHash6);
    CHECK(entries[1].key == "Bob@example.com");  // user part as written, domain lower-cased
    CHECK(entries[1].hash.empty());
    CHECK(entries[2].node == "node-1.b_c");
    CHECK(entries[2].hash == kHashY);
    CHECK(entries[3].kind == FileMapKeyKind::Domain);
    CHECK(entries[3].key == "@example.net");
    CHECK(entries[4].kind == FileMapKeyKind::Any);
    CHECK(entries[4].line == 8);
  }

  TEST_CASE("lookup tries the exact key, then @domain, then *") {
    auto r = parse("alice@example.com node1 " + kHash6 +
                   "\n"
                   "@example.com node2\n"
                   "* node3\n");
    REQUIRE(r.ok());
    auto exact = r.map.lookup(addr("alice", "example.com"));
    REQUIRE(exact);
    CHECK(exact->exact);
    CHECK(exact->node == "node1");
    CHECK(exact->key == "alice@example.com");
    CHECK(exact->hash == kHash6);

    auto domain = r.map.lookup(addr("zed", "example.com"));
    REQUIRE(domain);
    CHECK_FALSE(domain->exact);
    CHECK(domain->node == "node2");
    CHECK(domain->key == "@example.com");
    CHECK(domain->hash.empty());

    auto any = r.map.lookup(addr("alice", "example.org"));
    REQUIRE(any);
    CHECK_FALSE(any->exact);
    CHECK(any->node == "node3");
    CHECK(any->key == "*");
  }

  TEST_CASE("keys match case-insensitively") {
    auto r = parse("Alice@Example.COM node1\n@Example.NET node2\n");
    REQUIRE(r.ok());
    auto m = r.map.lookup(addr("ALICE", "example.com"));
    REQUIRE(m);
    CHECK(m->exact);
    CHECK(m->key == "Alice@example.com");
    auto d = r.map.lookup(addr("x", "example.net"));
    REQUIRE(d);
    CHECK(d->key == "@example.net");
  }

  TEST_CASE("without a * line an unknown domain matches nothing") {
    auto r = parse("alice@example.com node1\n@example.net node2\n");
    REQUIRE(r.ok());
    CHECK_FALSE(r.map.lookup(addr("bob", "example.com")));
    CHECK_FALSE(r.map.lookup(addr("alice", "example.org")));
  }

  TEST_CASE("CRLF and LF line endings, and a last line without a newline") {
    auto r = parse("alice@example.com node1\r\n# comment\r\n\r\nbob@example.com node2\n* node3");
    CHECK(r.ok());
    CHECK(r.map.size() == 3);
    auto entries = r.map.entries();
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].node == "node1");  // no CR left on the node
    CHECK(entries[1].line == 4);
    CHECK(entries[2].node == "node3");
    CHECK(entries[2].line == 5);

    auto last_crlf = parse("@example.com node1\r\n* node2\r");
    CHECK(last_crlf.ok());
    CHECK(last_crlf.map.entries().back().node == "node2");
  }

  TEST_CASE("an empty file, and a file of comments, are empty maps") {
    auto empty = parse("");
    CHECK(empty.ok());
    CHECK(empty.map.empty());
    auto comments = parse("# nothing\n\n   # here\r\n#");
    CHECK(comments.ok());
    CHECK(comments.map.empty());
  }

  TEST_CASE("# starts a comment only at the start of a line or after a blank") {
    auto in_key = parse("al#ice@example.com node1\n");
    CHECK(in_key.ok());
    CHECK(in_key.map.entries().at(0).key == "al#ice@example.com");

    auto after_tab = parse("alice@example.com node1\t#comment\n");
    CHECK(after_tab.ok());

    auto glued = parse("alice@example.com node1#comment\n");
    CHECK(contains(only_error(glued, 1), "bad node name"));
  }

  TEST_CASE("duplicate keys are errors, compared case-insensitively") {
    auto r = parse(
        "alice@example.com node1\n"
        "@example.com node1\n"
        "* node1\n"
        "ALICE@Example.com node2\n"
        "@EXAMPLE.com node2\n"
        "* node2\n");
    REQUIRE(r.errors.size() == 3);
    CHECK(r.errors[0].line == 4);
    CHECK(contains(r.errors[0].reason, "duplicate key"));
    CHECK(contains(r.errors[0].reason, "first on line 1"));
    CHECK(r.errors[1].line == 5);
    CHECK(contains(r.errors[1].reason, "first on line 2"));
    CHECK(r.errors[2].line == 6);
    CHECK(contains(r.errors[2].reason, "first on line 3"));
    // The first line of each key is the one kept (the caller rejects the file anyway).
    CHECK(r.map.lookup(addr("alice", "example.com"))->node == "node1");
  }

  TEST_CASE("malformed keys") {
    CHECK(contains(only_error(parse("alice node1\n"), 1), "expected user@domain, @domain or *"));
    CHECK(contains(only_error(parse("** node1\n"), 1), "malformed key"));
    CHECK(contains(only_error(parse("@ node1\n"), 1), "empty domain"));
    CHECK(contains(only_error(parse("alice@ node1\n"), 1), "empty domain"));
    CHECK(contains(only_error(parse("@example.com@x node1\n"), 1), "forbidden character"));
    CHECK(contains(only_error(parse("@alice@example.com node1\n"), 1), "forbidden character"));
    CHECK(contains(only_error(parse("a@b@example.com node1\n"), 1), "forbidden character"));
    CHECK(contains(only_error(parse("ali\x01"
                                    "ce@example.com node1\n"),
                              1),
                   "forbidden character"));
    CHECK(contains(only_error(parse("alice@exa\vmple.com node1\n"), 1), "forbidden character"));
    CHECK(contains(only_error(parse(std::string("al\0ce@example.com node1\n", 24)), 1),
                   "forbidden character"));
    CHECK(
        contains(only_error(parse(std::string(320, 'a') + "@example.com node1\n"), 1), "too long"));
    auto r = parse("# ok\nalice@example.com node1\nbad node1\n");
    CHECK(only_error(r, 3).starts_with("malformed key \"bad\""));
  }

  TEST_CASE("a key needs a node") {
    CHECK(contains(only_error(parse("alice@example.com\n"), 1), "missing node"));
    CHECK(contains(only_error(parse("* # node1\n"), 1), "missing node"));
    CHECK(contains(only_error(parse("\n\n@example.com   \r\n"), 3), "missing node"));
  }

  TEST_CASE("node names") {
    const std::string longest(64, 'n');
    auto ok = parse("a@x.org N0de\nb@x.org 9.x_y-z\nc@x.org " + longest + "\n");
    CHECK(ok.ok());
    CHECK(ok.map.size() == 3);
    CHECK(contains(only_error(parse("a@x.org -node\n"), 1), "bad node name \"-node\""));
    CHECK(contains(only_error(parse("a@x.org .node\n"), 1), "bad node name"));
    CHECK(contains(only_error(parse("a@x.org node!\n"), 1), "bad node name"));
    CHECK(contains(only_error(parse("a@x.org node/1\n"), 1), "bad node name"));
    CHECK(contains(only_error(parse("a@x.org n\x01ode\n"), 1), "bad node name"));
    CHECK(contains(only_error(parse("a@x.org " + longest + "n\n"), 1), "at most 64 bytes"));
  }

  TEST_CASE("password hashes: SHA-512 and yescrypt only, and only on user lines") {
    auto ok = parse("a@x.org node1 " + kHash6 + "\nb@x.org node1 " + kHashY + "\n");
    CHECK(ok.ok());
    CHECK(contains(only_error(parse("a@x.org node1 $1$salt$digest\n"), 1), "unknown hash scheme"));
    CHECK(
        contains(only_error(parse("a@x.org node1 $2b$10$abcdefghij\n"), 1), "unknown hash scheme"));
    CHECK(contains(only_error(parse("a@x.org node1 $5$salt$digest\n"), 1), "unknown hash scheme"));
    CHECK(contains(only_error(parse("a@x.org node1 secret\n"), 1), "unknown hash scheme"));
    CHECK(contains(only_error(parse("a@x.org node1 !" + kHash6 + "\n"), 1), "unknown hash scheme"));
    CHECK(contains(only_error(parse("a@x.org node1 $6$\n"), 1), "malformed hash"));
    CHECK(contains(only_error(parse("a@x.org node1 $6$salt$\n"), 1), "malformed hash"));
    CHECK(
        contains(only_error(parse("a@x.org node1 $y$j9T$salt$dig\x01st\n"), 1), "malformed hash"));
    CHECK(contains(only_error(parse("@x.org node1 " + kHash6 + "\n"), 1),
                   "allowed only on a user@domain line"));
    CHECK(contains(only_error(parse("* node1 " + kHash6 + "\n"), 1),
                   "allowed only on a user@domain line"));
  }

  TEST_CASE("too many fields") {
    CHECK(
        contains(only_error(parse("a@x.org node1 " + kHash6 + " extra\n"), 1), "too many fields"));
    CHECK(contains(only_error(parse("a@x.org node1 " + kHash6 + " a b c d\n"), 1),
                   "too many fields"));
    CHECK(contains(only_error(parse("* node1 node2 node3\n"), 1), "too many fields"));
    // A trailing comment is not a field.
    CHECK(parse("a@x.org node1 " + kHash6 + " # comment with words\n").ok());
  }

  TEST_CASE("every bad line is reported with its line number") {
    auto r = parse(
        "alice@example.com node1\n"
        "bad node1\n"
        "# comment\n"
        "bob@example.com\n"
        "carol@example.com node1 plain\n"
        "@example.org node1\n"
        "@example.org node2\n");
    REQUIRE(r.errors.size() == 4);
    CHECK(r.errors[0].line == 2);
    CHECK(r.errors[1].line == 4);
    CHECK(r.errors[2].line == 5);
    CHECK(r.errors[3].line == 7);
    CHECK_FALSE(r.ok());
  }

  TEST_CASE("line length limit, with the rest of a long line skipped") {
    // max_line counts the bytes before the LF or CRLF.
    const std::size_t max = 24;
    const std::string fits = "a@example.com node1    #";  // 24 bytes
    REQUIRE(fits.size() == max);
    CHECK(parse(fits + "\n", max).ok());
    CHECK(parse(fits + "\r\n", max).ok());
    CHECK(parse(fits, max).ok());
    CHECK(parse(fits + "\r", max).ok());

    auto over = parse(fits + "#\n* node2\n", max);
    CHECK(only_error(over, 1) == "line longer than 24 bytes");
    CHECK(over.map.lookup(addr("x", "y.org"))->node == "node2");

    auto over_crlf = parse(fits + "#\r\n* node2\r\n", max);
    CHECK(only_error(over_crlf, 1) == "line longer than 24 bytes");
    auto over_last = parse("* node2\n" + fits + "##", max);
    CHECK(only_error(over_last, 2) == "line longer than 24 bytes");

    // A long line full of what would be errors yields one error, and the lines
    // after it keep their numbers.
    auto skipped = parse("@a.org node1\n" + std::string(200, '@') + "\r\n\n* bad!\n", max);
    REQUIRE(skipped.errors.size() == 2);
    CHECK(skipped.errors[0].line == 2);
    CHECK(skipped.errors[0].reason == "line longer than 24 bytes");
    CHECK(skipped.errors[1].line == 4);
    CHECK(contains(skipped.errors[1].reason, "bad node name"));
  }

  TEST_CASE("an over-long line is never buffered") {
    // The split-invariance replay above also checks, for every chunking, that
    // the parser never held more than max_line + 1 bytes; here a line of 8 MiB
    // arrives in 4 KiB chunks.
    FileMapParser parser(64);
    const std::string chunk(4096, 'x');
    std::size_t max_buffered = 0;
    parser.feed("* node1\n");
    for (int i = 0; i < 2048; ++i) {
      parser.feed(chunk);
      max_buffered = std::max(max_buffered, parser.buffered_bytes());
    }
    CHECK(max_buffered <= 65);
    CHECK(parser.buffered_bytes() == 0);
    parser.feed("\n@example.com node2\n");
    auto r = parser.finish();
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].line == 2);
    CHECK(r.errors[0].reason == "line longer than 64 bytes");
    CHECK(r.map.size() == 2);
    CHECK(r.map.entries().at(1).line == 3);
  }

  TEST_CASE("the default limit is 4096 bytes") {
    const std::string line = "a@x.org node1 #" + std::string(4096 - 15, 'c');
    REQUIRE(line.size() == 4096);
    CHECK(parse(line + "\n").ok());
    CHECK(only_error(parse(line + "c\n"), 1) == "line longer than 4096 bytes");
  }

  TEST_CASE("the parser can be reused after finish()") {
    FileMapParser parser;
    parser.feed("bad\n* node1\n* node");
    auto first = parser.finish();
    CHECK(first.errors.size() == 2);
    parser.feed("@x.org node2\n");
    auto second = parser.finish();
    CHECK(second.ok());
    CHECK(second.map.size() == 1);
    CHECK(second.map.entries().at(0).line == 1);
  }

  TEST_CASE("error messages escape what the file contains") {
    auto r = parse("a@x.org no\"de\n");
    CHECK(only_error(r, 1).starts_with("bad node name \"no\\\"de\""));
    auto ctl = parse("a@x.org n\x1b[31m\n");
    CHECK(contains(only_error(ctl, 1), "\\x1b"));
  }
}
