#include <doctest/doctest.h>

#include "mapping/escape.hpp"

using postern::mapping::escape_dn_value;
using postern::mapping::escape_filter_value;

TEST_CASE("filter values escape the RFC 4515 specials") {
  CHECK(escape_filter_value("alice@example.com") == "alice@example.com");
  CHECK(escape_filter_value("*") == "\\2a");
  CHECK(escape_filter_value(")(uid=*") == "\\29\\28uid=\\2a");
  CHECK(escape_filter_value("a\\b") == "a\\5cb");
  CHECK(escape_filter_value(std::string_view("a\0b", 3)) == "a\\00b");
  CHECK(escape_filter_value("a\r\nb") == "a\\0d\\0ab");
}

TEST_CASE("filter values keep UTF-8 as it is") {
  CHECK(escape_filter_value("j\xc3\xb6rg@example.com") == "j\xc3\xb6rg@example.com");
}

TEST_CASE("an escaped filter value cannot close its assertion") {
  // Whatever the input, the output has no unescaped parenthesis, star or NUL.
  for (std::string_view attack : {"*)(objectClass=*", "x)(|(mail=*", "\\2a", "*)%00"}) {
    auto e = escape_filter_value(attack);
    CHECK(e.find('(') == std::string::npos);
    CHECK(e.find(')') == std::string::npos);
    CHECK(e.find('*') == std::string::npos);
  }
}

TEST_CASE("DN values escape the RFC 4514 specials") {
  CHECK(escape_dn_value("alice") == "alice");
  CHECK(escape_dn_value("a,ou=admins") == "a\\,ou\\=admins");
  CHECK(escape_dn_value("a+b") == "a\\+b");
  CHECK(escape_dn_value("\"q\"") == "\\\"q\\\"");
  CHECK(escape_dn_value("<x>;") == "\\<x\\>\\;");
  CHECK(escape_dn_value("back\\slash") == "back\\\\slash");
  CHECK(escape_dn_value("#hash") == "\\#hash");
  CHECK(escape_dn_value("in#side") == "in#side");
  CHECK(escape_dn_value(" lead") == "\\ lead");
  CHECK(escape_dn_value("trail ") == "trail\\ ");
  CHECK(escape_dn_value("mid dle") == "mid dle");
  CHECK(escape_dn_value(std::string_view("a\0b", 3)) == "a\\00b");
}
