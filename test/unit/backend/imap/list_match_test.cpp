#include <doctest/doctest.h>

#include <string>

#include "backend/imap/list_match.hpp"

using postern::node::imap::list_combine;
using postern::node::imap::list_match;

TEST_CASE("imap list: '*' crosses the delimiter, '%' does not") {
  CHECK(list_match("*", "a/b/c"));
  CHECK(list_match("a/*", "a/b/c"));
  CHECK_FALSE(list_match("a/*", "a"));
  CHECK(list_match("%", "a"));
  CHECK_FALSE(list_match("%", "a/b"));
  CHECK(list_match("a/%", "a/b"));
  CHECK_FALSE(list_match("a/%", "a/b/c"));
  CHECK(list_match("a/%/c", "a/b/c"));
  CHECK(list_match("%/%", "x/y"));
  CHECK(list_match("S*t", "Sent"));
  CHECK_FALSE(list_match("S*t", "Sents"));
  CHECK(list_match("", ""));
  CHECK_FALSE(list_match("", "a"));
  CHECK(list_match("Caf\xc3\xa9", "Caf\xc3\xa9"));
}

TEST_CASE("imap list: INBOX matches in any case, other names exactly") {
  CHECK(list_match("inbox", "INBOX"));
  CHECK(list_match("InBoX/%", "INBOX/sub"));
  CHECK(list_match("i*", "INBOX") == false);  // only the whole word INBOX folds
  CHECK_FALSE(list_match("sent", "Sent"));
}

TEST_CASE("imap list: a hostile pattern costs polynomial time") {
  std::string pattern;
  for (int i = 0; i < 200; ++i) pattern += "%*";
  pattern += "x";
  std::string name(2000, 'a');
  CHECK_FALSE(list_match(pattern, name));
  CHECK(list_match(pattern, name + "x"));
}

TEST_CASE("imap list: reference and pattern combine") {
  CHECK(list_combine("", "*") == "*");
  CHECK(list_combine("a/", "%") == "a/%");
  CHECK(list_combine("a/", "/b") == "b");
}
