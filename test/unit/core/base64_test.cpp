#include "core/base64.hpp"

#include <doctest/doctest.h>

using namespace postern::core;

TEST_CASE("base64: RFC 4648 test vectors both ways") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CAPTURE(plain);
    CHECK(base64_encode(plain) == encoded);
    CHECK(base64_decode(encoded) == std::optional<std::string>(plain));
  }
}

TEST_CASE("base64: every byte value survives a round trip") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    CHECK(base64_decode(base64_encode(all.substr(0, n))) == all.substr(0, n));
  }
  CHECK(base64_encode("\xFB\xFF") == "+/8=");
}

TEST_CASE("base64: strict decoding") {
  CHECK(base64_decode("Zm8") == std::optional<std::string>("fo"));  // padding omitted
  CHECK(base64_decode("Zg") == std::optional<std::string>("f"));
  CHECK_FALSE(base64_decode("Z"));  // one character cannot hold a byte
  CHECK_FALSE(base64_decode("Zm9vY"));
  CHECK_FALSE(base64_decode("Zg="));  // padding that does not complete the group
  CHECK_FALSE(base64_decode("Zm8=="));
  CHECK_FALSE(base64_decode("Zm9v===="));  // padding after a whole group
  CHECK_FALSE(base64_decode("="));
  CHECK_FALSE(base64_decode("Zg==Zg=="));   // data after padding
  CHECK_FALSE(base64_decode("Zm9v YmFy"));  // no whitespace
  CHECK_FALSE(base64_decode("Zm9v\r\n"));
  CHECK_FALSE(base64_decode("Zm9-"));  // base64url is another alphabet
  CHECK_FALSE(base64_decode(std::string_view("Zm\0v", 4)));
}
