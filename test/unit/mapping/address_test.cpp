#include <doctest/doctest.h>

#include "mapping/address.hpp"

using namespace postern::mapping;

TEST_CASE("a login without @ takes the primary domain") {
  auto a = parse_login("alice", "Example.com");
  REQUIRE(a.has_value());
  CHECK(a->full() == "alice@example.com");
  CHECK(parse_login("alice", "").error() == AddressError::NoDomain);
}

TEST_CASE("the domain is lower-cased, the local part kept, the key lower-cased") {
  auto a = parse_login("Alice@Example.COM", "");
  REQUIRE(a.has_value());
  CHECK(a->local == "Alice");
  CHECK(a->domain == "example.com");
  CHECK(login_key(*a) == "alice@example.com");
}

TEST_CASE("bad logins are refused with a reason") {
  CHECK(parse_login("", "example.com").error() == AddressError::Empty);
  CHECK(parse_login("@example.com", "").error() == AddressError::EmptyLocal);
  CHECK(parse_login("alice@", "").error() == AddressError::EmptyDomain);
  CHECK(parse_login("a b@example.com", "").error() == AddressError::BadCharacter);
  CHECK(parse_login(std::string_view("a\0b@example.com", 15), "").error() ==
        AddressError::BadCharacter);
  CHECK(parse_login("a\r\n@example.com", "").error() == AddressError::BadCharacter);
  CHECK(parse_login("a@b@example.com", "").error() == AddressError::BadCharacter);
  CHECK(parse_login(std::string(400, 'a'), "example.com").error() == AddressError::TooLong);
}
