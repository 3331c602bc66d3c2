#include "backend/store/account_path.hpp"

#include <doctest/doctest.h>

#include <string>

#include "backend/store/keyword_table.hpp"
#include "backend/store/mailbox_name.hpp"

using namespace postern::node::store;

namespace {

// No component may be empty, ".", ".." or contain anything but safe bytes.
void check_safe(const std::string& path) {
  CAPTURE(path);
  std::size_t start = 0;
  int components = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string c = path.substr(start, end - start);
    CHECK(!c.empty());
    CHECK(c != ".");
    CHECK(c != "..");
    for (char ch : c) {
      bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                ch == '+' || ch == '-' || ch == '%' || (ch >= 'A' && ch <= 'F');
      CHECK(ok);
    }
    ++components;
    start = end + 1;
  }
  CHECK(components == 2);
}

}  // namespace

TEST_CASE("store path: a plain address is lower-cased domain/local") {
  CHECK(account_relative_path("Alice@Example.COM").value() == "example.com/alice");
  CHECK(account_relative_path("first.last+tag@mail-1.example.org").value() ==
        "mail-1.example.org/first.last+tag");
}

TEST_CASE("store path: hostile local parts and domains stay one safe component each") {
  CHECK(account_relative_path("../x@d").value() == "d/..%2Fx");
  CHECK(account_relative_path("a/b@d").value() == "d/a%2Fb");
  CHECK(account_relative_path("..@d").value() == "d/%2E%2E");
  CHECK(account_relative_path(".@d").value() == "d/%2E");
  CHECK(account_relative_path("x@..").value() == "%2E%2E/x");
  CHECK(account_relative_path("%2e%2e@d").value() == "d/%252e%252e");
  CHECK(account_relative_path(std::string("a\0b@d", 5)).value() == "d/a%00b");
  CHECK(account_relative_path("caf\xc3\xa9@d").value() == "d/caf%C3%A9");
  CHECK(account_relative_path("\"a@b\"@d").value() == "d/%22a%40b%22");
  CHECK(account_relative_path("a b\\c@d/e").value() == "d%2Fe/a%20b%5Cc");
  for (const char* hostile : {"../x@d", "a/b@d", "..@..", ".@.", "%2e%2e@%2e", "\xff\xfe@\x01",
                              "/@/", "~root@x", "a@b@c"}) {
    auto path = account_relative_path(hostile);
    REQUIRE(path.has_value());
    check_safe(*path);
  }
}

TEST_CASE("store path: malformed or oversized addresses are refused") {
  CHECK(account_relative_path("").error() == StoreError::BadArgument);
  CHECK(account_relative_path("nodomain").error() == StoreError::BadArgument);
  CHECK(account_relative_path("@d").error() == StoreError::BadArgument);
  CHECK(account_relative_path("a@").error() == StoreError::BadArgument);
  CHECK(account_relative_path(std::string(317, 'a') + "@d.e").error() == StoreError::BadArgument);
  CHECK(account_relative_path(std::string(316, 'a') + "@d.e").has_value());
}

TEST_CASE("store path: distinct addresses never share a directory") {
  // '%' is itself encoded, so an encoded-looking input cannot collide.
  CHECK(account_relative_path("a/b@d").value() != account_relative_path("a%2Fb@d").value());
  CHECK(account_relative_path("..@d").value() != account_relative_path("%2E%2E@d").value());
}

TEST_CASE("store mailbox names: normalisation and refusal") {
  CHECK(normalize_mailbox_name("inbox").value() == "INBOX");
  CHECK(normalize_mailbox_name("InBox/Sub").value() == "INBOX/Sub");
  CHECK(normalize_mailbox_name("inboxes").value() == "inboxes");
  CHECK(normalize_mailbox_name("Work/").value() == "Work");
  CHECK(normalize_mailbox_name("Caf\xc3\xa9").value() == "Caf\xc3\xa9");
  for (const char* bad : {"", "/", "/a", "a//b", "a/./b", "a/..", "a*", "a%b", "a\tb", "\xc3",
                          "\xed\xa0\x80", "\xc0\xaf"}) {
    CAPTURE(bad);
    CHECK(normalize_mailbox_name(bad).error() == StoreError::BadArgument);
  }
  CHECK(normalize_mailbox_name(std::string(1025, 'a')).error() == StoreError::Limit);
  std::string deep = "a";
  for (int i = 0; i < 32; ++i) deep += "/a";
  CHECK(normalize_mailbox_name(deep).error() == StoreError::Limit);
  CHECK(parent_mailbox_name("a/b/c") == "a/b");
  CHECK(parent_mailbox_name("a").empty());
  CHECK(is_inferior_name("a/b", "a"));
  CHECK_FALSE(is_inferior_name("ab", "a"));
  CHECK_FALSE(is_inferior_name("a", "a"));
}

TEST_CASE("store keywords: IMAP atoms only") {
  CHECK(is_valid_keyword("$Forwarded"));
  CHECK(is_valid_keyword("Work"));
  CHECK_FALSE(is_valid_keyword(""));
  CHECK_FALSE(is_valid_keyword("\\Seen"));
  CHECK_FALSE(is_valid_keyword("a b"));
  CHECK_FALSE(is_valid_keyword("a(b"));
  CHECK_FALSE(is_valid_keyword("caf\xc3\xa9"));
  CHECK_FALSE(is_valid_keyword(std::string(129, 'k')));
}
