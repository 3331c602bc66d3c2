// Address lists as IMAP ENVELOPE needs them. The groups and comment cases are
// those of Dovecot's test-imap-envelope.c (imaptest's), whose output we match.
#include "backend/mime/address.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "backend/mime/imap_format.hpp"

// In the namespace rather than using-declarations: in a unity build, a
// neighbouring file's `using namespace postern::mapping` brings another Address.
namespace postern::node::mime {

namespace {

std::string render(std::string_view value) {
  std::string out;
  for (const Address& a : parse_address_list(value)) {
    out += "(" + imap_nstring(a.name) + " NIL " + imap_nstring(a.mailbox) + " " +
           imap_nstring(a.host) + ")";
  }
  return out;
}

}  // namespace

TEST_CASE("mime address: display names, quoting and angle addresses") {
  CHECK(render("Alice Example <alice@example.com>") ==
        R"(("Alice Example" NIL "alice" "example.com"))");
  CHECK(render("\"Bob, the \\\"Builder\\\"\" <bob@example.net>, carol@example.org") ==
        R"(("Bob, the \"Builder\"" NIL "bob" "example.net")(NIL NIL "carol" "example.org"))");
  CHECK(render("John Q. Public <john.q.public@example.com>") ==
        R"(("John Q. Public" NIL "john.q.public" "example.com"))");
  CHECK(render("  Many    spaces   <a@b.c>") == R"(("Many spaces" NIL "a" "b.c"))");
  CHECK(render("\"john doe\"@example.com") == R"((NIL NIL "john doe" "example.com"))");
  CHECK(render("<a@[192.0.2.1]>") == R"((NIL NIL "a" "[192.0.2.1]"))");
}

TEST_CASE("mime address: a comment names an address that has no display name") {
  CHECK(render("user@domain (Real Name)") == R"(("Real Name" NIL "user" "domain"))");
  CHECK(render("Name <user@domain> (comment)") == R"(("Name" NIL "user" "domain"))");
}

TEST_CASE("mime address: groups use the RFC 3501 markers") {
  CHECK(render("group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;") ==
        "(NIL NIL \"group\" NIL)(NIL NIL \"g1\" \"d1.org\")(NIL NIL \"g2\" \"d2.org\")"
        "(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL \"g3\" \"d3.org\")(NIL NIL NIL NIL)");
  CHECK(render("group:;, group2: (foo) ;") ==
        "(NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)");
  CHECK(render("undisclosed-recipients:;") ==
        "(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)");
  // A group left open is closed at the end.
  CHECK(render("team: a@x") == "(NIL NIL \"team\" NIL)(NIL NIL \"a\" \"x\")(NIL NIL NIL NIL)");
  const auto list = parse_address_list("team: a@x;");
  REQUIRE(list.size() == 3);
  CHECK(list[0].is_group_start());
  CHECK(list[2].is_group_end());
  CHECK(!list[1].is_group_start());
}

TEST_CASE("mime address: source routes are dropped") {
  CHECK(render("<@route:user@domain>") == R"((NIL NIL "user" "domain"))");
  CHECK(render("Name <@r1,@r2:user@domain>") == R"(("Name" NIL "user" "domain"))");
}

TEST_CASE("mime address: broken lists yield what can be read") {
  CHECK(render("local-only") == R"((NIL NIL "local-only" "MISSING_DOMAIN"))");
  CHECK(render("<>") == R"((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN"))");
  CHECK(render("@example.com") == R"((NIL NIL "MISSING_MAILBOX" "example.com"))");
  CHECK(render("a@") == R"((NIL NIL "a" "MISSING_DOMAIN"))");
  CHECK(render(", ,a@b,,") == R"((NIL NIL "a" "b"))");
  CHECK(render("Name <a@b") == R"(("Name" NIL "a" "b"))");
  CHECK(render("> ) ] a@b") == R"((NIL NIL "a" "b"))");
  CHECK(render("").empty());
  CHECK(render("   (just a comment)  ").empty());
}

TEST_CASE("mime address: encoded words and 8-bit names are kept as written") {
  CHECK(render("=?utf-8?B?SsO2cmc=?= <joerg@example.de>") ==
        R"(("=?utf-8?B?SsO2cmc=?=" NIL "joerg" "example.de"))");
  CHECK(render("J\xC3\xB6rg <joerg@example.de>") ==
        "({5}\r\nJ\xC3\xB6rg NIL \"joerg\" \"example.de\")");
}

}  // namespace postern::node::mime
