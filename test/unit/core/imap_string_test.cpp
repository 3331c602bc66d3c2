#include "core/imap_string.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/imap_parser.hpp"

using postern::core::imap::imap_astring;
using postern::core::imap::imap_quote;
using postern::core::imap::ImapParser;
using postern::core::imap::kMaxQuotedBytes;
using postern::core::imap::mutf7_to_utf8;
using postern::core::imap::parse_sequence_set;
using postern::core::imap::SequenceSet;
using postern::core::imap::Status;
using postern::core::imap::utf8_to_mutf7;
using namespace std::literals;

namespace {

// What our own parser reads back from `a X <encoded>\r\n`: the helpers' output
// must mean the text it was made from.
std::string read_back(const std::string& encoded) {
  ImapParser parser;
  std::string_view in;
  const std::string line = "a X " + encoded + "\r\n";
  in = line;
  while (!in.empty()) {
    auto r = parser.feed(in);
    in.remove_prefix(r.consumed);
    if (r.status == Status::Command && r.command.args.size() == 1) return r.command.args[0].text;
    if (r.status == Status::Error || r.status == Status::Command) return "<error>";
  }
  return "<incomplete>";
}

}  // namespace

TEST_CASE("imap strings: quoting") {
  CHECK(imap_quote("abc") == "\"abc\"");
  CHECK(imap_quote("") == "\"\"");
  CHECK(imap_quote("say \"hi\" \\o/") == "\"say \\\"hi\\\" \\\\o/\"");
  CHECK(imap_quote("a\r\nb") == "{4}\r\na\r\nb");
  CHECK(imap_quote("caf\xc3\xa9") == "{5}\r\ncaf\xc3\xa9");
  CHECK(imap_quote("a\0b"sv) == "{3}\r\na\0b"s);
  CHECK(imap_quote(std::string(kMaxQuotedBytes, 'x')).front() == '"');
  CHECK(imap_quote(std::string(kMaxQuotedBytes + 1, 'x')).front() == '{');

  CHECK(imap_astring("INBOX") == "INBOX");
  CHECK(imap_astring("Sent]") == "Sent]");
  CHECK(imap_astring("a b") == "\"a b\"");
  CHECK(imap_astring("") == "\"\"");
  CHECK(imap_astring("NIL") == "\"NIL\"");
  CHECK(imap_astring("nil") == "\"nil\"");
  CHECK(imap_astring("[Gmail]") == "\"[Gmail]\"");
  CHECK(imap_astring("50%") == "\"50%\"");
  CHECK(imap_astring("\\Seen") == "\"\\\\Seen\"");

  for (std::string text : {"INBOX", "a b", "", "NIL", "x]y[", "q\"\\", "l\r\nf", "\xff", "(x)"}) {
    CAPTURE(text);
    CHECK(read_back(imap_astring(text)) == text);
    CHECK(read_back(imap_quote(text)) == text);
  }
}

TEST_CASE("imap strings: modified UTF-7 round trips") {
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {"INBOX", "INBOX"},
      {"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
      {"&", "&-"},
      {"Tom & Jerry", "Tom &- Jerry"},
      {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
       "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
      {"\xc3\xa4\xc3\xb6\xc3\xbc", "&AOQA9gD8-"},
      {"\xf0\x9f\x98\x80 smile", "&2D3eAA- smile"},
      {"a\tb", "a&AAk-b"},
      {"", ""},
  };
  for (const auto& [utf8, mutf7] : pairs) {
    CAPTURE(utf8);
    CHECK(utf8_to_mutf7(utf8) == mutf7);
    CHECK(mutf7_to_utf8(mutf7) == utf8);
  }
  // Adjacent shifts decode, though we never write them.
  CHECK(mutf7_to_utf8("&AOQ-&APY-") == "\xc3\xa4\xc3\xb6");
}

TEST_CASE("imap strings: invalid modified UTF-7 is rejected") {
  for (std::string_view bad : {
           "&U,BTFw",          // unterminated
           "&",                // unterminated
           "&Jjo!-",           // not base64
           "&AGE-",            // "a" must represent itself
           "&ACY-",            // so must "&"
           "&APx-",            // non-zero padding bits
           "&AOQA-",           // a whole base64 character of padding
           "&AP-",             // no complete UTF-16 unit
           "&2D0-",            // lone high surrogate
           "&3gA-",            // lone low surrogate
           "&2D3YPQ-",         // high surrogate followed by another high one
           "&AAA-",            // NUL
           "Entw\xc3\xbcrfe",  // raw 8-bit
           "a\tb",             // raw control character
       }) {
    CAPTURE(bad);
    CHECK_FALSE(mutf7_to_utf8(bad).has_value());
  }
}

TEST_CASE("imap strings: UTF-8 that is not valid becomes U+FFFD") {
  CHECK(utf8_to_mutf7("a\xff"
                      "b") == "a&,,0-b");
  CHECK(utf8_to_mutf7("\xc0\xaf") == "&,,3,,Q-");        // overlong '/'
  CHECK(utf8_to_mutf7("\xed\xa0\x80") == "&,,3,,f,9-");  // encoded surrogate
  CHECK(utf8_to_mutf7("\xe2\x82") == "&,,3,,Q-");        // truncated
  CHECK(utf8_to_mutf7("a\0b"sv) == "a&,,0-b");
  CHECK(mutf7_to_utf8(utf8_to_mutf7("\xf4\x90\x80\x80")).has_value());
}

TEST_CASE("imap strings: sequence sets") {
  auto set = parse_sequence_set("1:*,5,7:3,4294967295");
  REQUIRE(set.has_value());
  REQUIRE(set->ranges.size() == 4);
  CHECK(set->ranges[0] == SequenceSet::Range{1, SequenceSet::kStar});
  CHECK(set->ranges[2] == SequenceSet::Range{7, 3});
  CHECK(set->to_string() == "1:*,5,7:3,4294967295");
  CHECK(set->contains(1, 10));
  CHECK(set->contains(10, 10));
  CHECK_FALSE(set->contains(11, 10));
  CHECK(set->contains(4294967295u, 10));
  CHECK_FALSE(set->contains(0, 10));

  auto s2 = parse_sequence_set("9,2:4,*,5,12:11");
  REQUIRE(s2.has_value());
  auto n = s2->normalized(20);
  REQUIRE(n.size() == 4);
  CHECK(n[0] == SequenceSet::Range{2, 5});
  CHECK(n[1] == SequenceSet::Range{9, 9});
  CHECK(n[2] == SequenceSet::Range{11, 12});
  CHECK(n[3] == SequenceSet::Range{20, 20});
  CHECK(s2->count(20) == 8);
  CHECK(s2->contains(3, 20));
  CHECK_FALSE(s2->contains(6, 20));
  std::vector<std::uint32_t> seen;
  s2->for_each(20, 11, [&](std::uint32_t v) { seen.push_back(v); });
  CHECK(seen == std::vector<std::uint32_t>{2, 3, 4, 5, 9, 11});

  // `*` of an empty mailbox matches nothing; 1:* then holds just 1.
  auto all = parse_sequence_set("*:1");
  REQUIRE(all.has_value());
  CHECK(all->normalized(0) == std::vector<SequenceSet::Range>{{1, 1}});
  CHECK(parse_sequence_set("*")->normalized(0).empty());

  auto big = parse_sequence_set("1:4294967295,4294967295");
  REQUIRE(big.has_value());
  CHECK(big->count(1) == 4294967295u);
  std::vector<std::uint32_t> first;
  big->for_each(1, 3, [&](std::uint32_t v) { first.push_back(v); });
  CHECK(first == std::vector<std::uint32_t>{1, 2, 3});

  for (std::string_view bad : {"", ",", "1,", ",1", "0", "01", "1:", ":1", "1:2:3", "4294967296",
                               "a", "1 2", "1,,2", "$", "-1", "**"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_sequence_set(bad).has_value());
  }
}
