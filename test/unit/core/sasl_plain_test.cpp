#include "core/sasl_plain.hpp"

#include <doctest/doctest.h>

using namespace postern::core;

TEST_CASE("sasl plain: decoding") {
  // "\0alice@example.com\0secret"
  auto c = decode_plain("AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==");
  REQUIRE(c);
  CHECK(c->user == "alice@example.com");
  CHECK(c->password.reveal() == "secret");
  // authzid equal to authcid: fine. "alice\0alice\0pw"
  CHECK(decode_plain("YWxpY2UAYWxpY2UAcHc=").has_value());
  CHECK(decode_plain("YWxpY2UAYWxpY2UAcHc").has_value());  // padding omitted
  // authzid of someone else. "bob\0alice\0pw"
  CHECK(decode_plain("Ym9iAGFsaWNlAHB3").error() == PlainError::Impersonation);
  CHECK(decode_plain("not base64!").error() == PlainError::BadBase64);
  CHECK(decode_plain("=").error() == PlainError::Malformed);
  CHECK(decode_plain("YWxpY2U=").error() == PlainError::Malformed);      // "alice"
  CHECK(decode_plain("AGFsaWNlAA==").error() == PlainError::Malformed);  // empty password
  CHECK(plain_error_name(PlainError::Impersonation) == "impersonation");
}

TEST_CASE("sasl plain: encoding round-trips through decoding") {
  CHECK(encode_plain("alice@example.com", "secret") == "AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==");
  // Any byte but NUL may be in a password, spaces and UTF-8 included.
  const std::string password = "p\xC3\xA4ss word=\x01~";
  auto c = decode_plain(encode_plain("bob@example.com", password));
  REQUIRE(c);
  CHECK(c->user == "bob@example.com");
  CHECK(c->password.reveal() == password);
}
