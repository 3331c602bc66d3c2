#include "mapping/password_hash.hpp"

#include <doctest/doctest.h>

#include <string>

using postern::mapping::hash_password;
using postern::mapping::PasswordScheme;
using postern::mapping::verify_password;

namespace {

// Computed outside this code base, by two independent implementations that agree:
//   openssl passwd -6 -salt saltsalt secret
//   python3 -c "import crypt; print(crypt.crypt('secret', '\$6\$saltsalt'))"
const std::string kSecretSha512 =
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq."
    "H91p5hVO1";
// python3 -c "import crypt; print(crypt.crypt('secret', '\$y\$j9T\$F5Jx5fExrKuPp53xLKQ..1\$'))"
// (the system's libxcrypt: a regression vector, not an independent one).
const std::string kSecretYescrypt =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$GmcwIgvdUC9qLWcKCi6gklUa1dM3ziD43YxYNURLKy0";

}  // namespace

TEST_SUITE("password_hash") {
  TEST_CASE("a known SHA-512 vector") {
    CHECK(verify_password("secret", kSecretSha512));
    CHECK_FALSE(verify_password("Secret", kSecretSha512));
    CHECK_FALSE(verify_password("secret ", kSecretSha512));
    CHECK_FALSE(verify_password("", kSecretSha512));
  }

  TEST_CASE("a known yescrypt vector") {
    CHECK(verify_password("secret", kSecretYescrypt));
    CHECK_FALSE(verify_password("secreT", kSecretYescrypt));
  }

  TEST_CASE("hash then verify, SHA-512") {
    auto h = hash_password("correct horse", PasswordScheme::Sha512);
    REQUIRE(h);
    CHECK(h->starts_with("$6$"));
    CHECK(verify_password("correct horse", *h));
    CHECK_FALSE(verify_password("correct horse battery", *h));
    CHECK_FALSE(verify_password("correct hors", *h));
  }

  TEST_CASE("hash then verify, yescrypt") {
    auto h = hash_password("correct horse", PasswordScheme::Yescrypt);
    REQUIRE(h);
    CHECK(h->starts_with("$y$"));
    CHECK(verify_password("correct horse", *h));
    CHECK_FALSE(verify_password("Correct horse", *h));
  }

  TEST_CASE("every hash gets a fresh random salt") {
    auto a = hash_password("same", PasswordScheme::Sha512);
    auto b = hash_password("same", PasswordScheme::Sha512);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a != *b);
    auto c = hash_password("same", PasswordScheme::Yescrypt);
    auto d = hash_password("same", PasswordScheme::Yescrypt);
    REQUIRE(c);
    REQUIRE(d);
    CHECK(*c != *d);
  }

  TEST_CASE("malformed and failure hashes never verify") {
    CHECK_FALSE(verify_password("secret", ""));
    CHECK_FALSE(verify_password("secret", "*"));
    CHECK_FALSE(verify_password("secret", "*0"));
    CHECK_FALSE(verify_password("secret", "*1"));
    CHECK_FALSE(verify_password("secret", "!"));
    CHECK_FALSE(verify_password("secret", "$6$"));
    CHECK_FALSE(verify_password("secret", "$y$"));
    CHECK_FALSE(verify_password("secret", "$y$j9T$"));
    CHECK_FALSE(verify_password("secret", "$9$salt$digest"));
    CHECK_FALSE(verify_password("secret", "garbage hash"));
    CHECK_FALSE(verify_password("secret", kSecretSha512.substr(0, kSecretSha512.size() - 1)));
    CHECK_FALSE(verify_password("secret", kSecretSha512 + "x"));
    std::string flipped = kSecretSha512;
    flipped.back() = flipped.back() == '1' ? '2' : '1';
    CHECK_FALSE(verify_password("secret", flipped));
    CHECK_FALSE(verify_password("secret", std::string(kSecretSha512).insert(12, 1, '\0')));
    CHECK_FALSE(verify_password("secret", std::string(1000, '$')));
  }

  TEST_CASE("a password with a NUL byte or beyond crypt's limit is refused") {
    const std::string with_nul("sec\0ret", 7);
    CHECK_FALSE(verify_password(with_nul, kSecretSha512));
    CHECK_FALSE(verify_password(std::string("secret\0", 7), kSecretSha512));
    CHECK_FALSE(hash_password(with_nul, PasswordScheme::Sha512));

    const std::string longest(511, 'p');
    auto h = hash_password(longest, PasswordScheme::Sha512);
    REQUIRE(h);
    CHECK(verify_password(longest, *h));
    auto too_long = hash_password(longest + "p", PasswordScheme::Sha512);
    REQUIRE_FALSE(too_long);
    CHECK(too_long.error().find("511") != std::string::npos);
    CHECK_FALSE(verify_password(longest + "p", *h));
  }

  TEST_CASE("the empty password is hashed like any other") {
    auto h = hash_password("", PasswordScheme::Sha512);
    REQUIRE(h);
    CHECK(verify_password("", *h));
    CHECK_FALSE(verify_password(" ", *h));
    CHECK_FALSE(verify_password("secret", *h));
    auto y = hash_password("", PasswordScheme::Yescrypt);
    REQUIRE(y);
    CHECK(verify_password("", *y));
    CHECK_FALSE(verify_password("x", *y));
  }
}
