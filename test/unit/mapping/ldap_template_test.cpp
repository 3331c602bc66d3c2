#include <doctest/doctest.h>

#include "mapping/ldap_template.hpp"

// In the namespace rather than `using namespace`: in a unity build, the file
// after this one may name another Address (backend/mime's).
namespace postern::mapping {

TEST_CASE("templates substitute local part, domain and address, escaped") {
  Address a{"alice", "example.com"};
  CHECK(expand_template("(mail=%s)", a, TemplateKind::Filter) == "(mail=alice@example.com)");
  CHECK(expand_template("(&(uid=%u)(dc=%d))", a, TemplateKind::Filter) ==
        "(&(uid=alice)(dc=example.com))");
  CHECK(expand_template("uid=%u,ou=people,dc=example,dc=com", a, TemplateKind::Dn) ==
        "uid=alice,ou=people,dc=example,dc=com");
  CHECK(expand_template("100%%", a, TemplateKind::Filter) == "100%");
}

TEST_CASE("an injected login stays one value") {
  Address evil{"*)(uid=*", "example.com"};
  CHECK(expand_template("(mail=%s)", evil, TemplateKind::Filter) ==
        "(mail=\\2a\\29\\28uid=\\2a@example.com)");
  Address dn_evil{"x,ou=admins", "example.com"};
  CHECK(expand_template("uid=%u,ou=people,dc=example,dc=com", dn_evil, TemplateKind::Dn) ==
        "uid=x\\,ou\\=admins,ou=people,dc=example,dc=com");
}

TEST_CASE("check_template accepts the known placeholders only") {
  CHECK(check_template("(mail=%s)").has_value());
  CHECK(check_template("uid=%u,dc=%d %%").has_value());
  CHECK_FALSE(check_template("(mail=%x)").has_value());
  CHECK_FALSE(check_template("(mail=%").has_value());
}

}  // namespace postern::mapping
