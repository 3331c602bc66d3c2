#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "backend/imap/search_text.hpp"

using namespace postern::node::imap;

TEST_CASE("search text: case folding keeps lengths and folds common letters") {
  CHECK(folded("Hello, WORLD [@]^_`{}") == "hello, world [@]^_`{}");
  // Latin-1, Latin Extended-A (both parities), Greek, Cyrillic.
  CHECK(folded("\xc3\x80\xc3\x89\xc3\x96\xc3\x98\xc3\x9e") ==
        "\xc3\xa0\xc3\xa9\xc3\xb6\xc3\xb8\xc3\xbe");
  CHECK(folded("\xc3\x97\xc3\x9f") == "\xc3\x97\xc3\x9f");  // multiplication sign, sharp s
  CHECK(folded("\xc5\x81\xc3\xb3"
               "d\xc5\xba") ==
        "\xc5\x82\xc3\xb3"
        "d\xc5\xba");                                                       // Łódź
  CHECK(folded("\xc5\xbb") == "\xc5\xbc");                                  // Ż
  CHECK(folded("\xc5\x92\xc5\xb8") == "\xc5\x93\xc3\xbf");                  // Œ Ÿ
  CHECK(folded("\xc4\x8c") == "\xc4\x8d");                                  // Č
  CHECK(folded("\xce\xa3\xce\x9f\xcf\x82") == "\xcf\x83\xce\xbf\xcf\x83");  // ΣΟς
  CHECK(folded("\xd0\x9c\xd0\xbe\xd0\xa1\xd0\x81") == "\xd0\xbc\xd0\xbe\xd1\x81\xd1\x91");
  // Three-byte sequences and stray bytes are left alone.
  CHECK(folded("\xe2\x82\xac\x80\xc3") == "\xe2\x82\xac\x80\xc3");
  std::string ascii_only = "\xc3\x89T\xc3\x89";
  fold_case(ascii_only.data(), ascii_only.size(), false);
  CHECK(ascii_only == "\xc3\x89t\xc3\x89");
}

TEST_CASE("search text: contains") {
  CHECK(contains("hello world", "o w"));
  CHECK(contains("hello", ""));
  CHECK_FALSE(contains("hello", "hello!"));
  CHECK_FALSE(contains("", "a"));
}

TEST_CASE("search text: header_length") {
  CHECK(header_length("A: b\r\n\r\nbody") == 8);
  CHECK(header_length("A: b\n\nbody") == 6);
  CHECK(header_length("\r\nbody") == 2);
  CHECK(header_length("A: b\r\nC: d") == 10);
  CHECK(header_length("") == 0);
}

TEST_CASE("search text: raw header fields") {
  RawHeaderReader reader(
      " orphan continuation\r\n"
      "Subject: one\r\n two\r\n"
      "garbage line\r\n"
      "X-Empty:\r\n"
      "Bad Name : skipped? no: trailing blanks end the name\r\n"
      "To : a@b\n"
      "\tc@d\r\n"
      "\r\n"
      "Body: not a field\r\n");
  std::vector<std::pair<std::string, std::string>> fields;
  RawHeaderField f;
  while (reader.next(f)) fields.emplace_back(f.name, f.value);
  REQUIRE(fields.size() == 3);
  CHECK(fields[0] == std::pair<std::string, std::string>("Subject", " one\r\n two"));
  CHECK(fields[1] == std::pair<std::string, std::string>("X-Empty", ""));
  CHECK(fields[2] == std::pair<std::string, std::string>("To", " a@b\n\tc@d"));

  std::string value;
  decode_header_value(" one\r\n two ", value);
  CHECK(value == "one two");
  decode_header_value(" =?utf-8?q?a=C3=A9?=\r\n =?utf-8?q?b?=", value);
  CHECK(value ==
        "a\xc3\xa9"
        "b");
}

TEST_CASE("search text: zone of an RFC 5322 date") {
  CHECK(rfc5322_zone_minutes("Mon, 1 Jan 2024 23:30:00 -0500") == -300);
  CHECK(rfc5322_zone_minutes("1 Jan 2024 23:30 +0530 (IST)") == 330);
  CHECK(rfc5322_zone_minutes("1 Jan 2024 23:30 EDT") == -240);
  CHECK(rfc5322_zone_minutes("1 Jan 2024 23:30 GMT") == 0);
  CHECK(rfc5322_zone_minutes("1 Jan 2024 23:30") == 0);
  CHECK(rfc5322_zone_minutes("1 Jan 2024 23:30 +05x0") == 0);
}
