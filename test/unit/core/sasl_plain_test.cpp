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

TEST_CASE("sasl plain: an authzid is returned when the caller asks for it") {
  // "bob\0alice\0pw": alice's password, acting for bob (a master login).
  auto c = decode_plain("Ym9iAGFsaWNlAHB3", AuthzidPolicy::Return);
  REQUIRE(c);
  CHECK(c->user == "alice");
  CHECK(c->authzid == "bob");
  CHECK(c->password.reveal() == "pw");
  // Absent or the same user (in any case): no authzid, an ordinary login.
  auto plain = decode_plain("AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==", AuthzidPolicy::Return);
  REQUIRE(plain);
  CHECK(plain->authzid.empty());
  auto same = decode_plain(encode_plain("ALICE", "alice", "pw"), AuthzidPolicy::Return);
  REQUIRE(same);
  CHECK(same->authzid.empty());
  // The default still refuses someone else, and never fills the field.
  CHECK(decode_plain(encode_plain("bob", "alice", "pw")).error() == PlainError::Impersonation);
  CHECK(decode_plain(encode_plain("alice", "alice", "pw"))->authzid.empty());
  // Malformed stays malformed whatever the policy: "bob\0\0pw" (empty authcid).
  CHECK(decode_plain(encode_plain("bob", "", "pw"), AuthzidPolicy::Return).error() ==
        PlainError::Malformed);
}

TEST_CASE("sasl plain: encoding a master login") {
  // "alice@example.com\0proxy-master\0s3cret"
  const auto blob = encode_plain("alice@example.com", "proxy-master", "s3cret");
  CHECK(blob == "YWxpY2VAZXhhbXBsZS5jb20AcHJveHktbWFzdGVyAHMzY3JldA==");
  auto c = decode_plain(blob, AuthzidPolicy::Return);
  REQUIRE(c);
  CHECK(c->user == "proxy-master");
  CHECK(c->authzid == "alice@example.com");
  CHECK(c->password.reveal() == "s3cret");
}
