#include <doctest/doctest.h>

#include "mapping/ldap_group_check.hpp"

using namespace postern::mapping;

TEST_CASE("DNs compare in a normal form") {
  CHECK(normalize_dn("CN=MailUsers, OU=Groups,DC=Example,DC=com") ==
        "cn=mailusers,ou=groups,dc=example,dc=com");
  CHECK(normalize_dn("uid=alice,ou=people,dc=example,dc=com") ==
        normalize_dn("UID=Alice, ou=People, dc=example, dc=COM"));
  CHECK(normalize_dn("not a dn") == "not a dn");
}

TEST_CASE("the member filter asks for every attribute of every DN, escaped") {
  CHECK(member_filter({"member", "uniqueMember"}, {"uid=a,dc=x"}) ==
        "(|(member=uid=a,dc=x)(uniqueMember=uid=a,dc=x))");
  CHECK(member_filter({"member"}, {"cn=a,dc=x", "cn=b\\2c(c),dc=x"}) ==
        "(|(member=cn=a,dc=x)(member=cn=b\\5c2c\\28c\\29,dc=x))");
}

TEST_CASE("the AD in-chain filter uses the transitive matching rule") {
  CHECK(in_chain_filter("member", "CN=Alice,OU=Users,DC=corp,DC=example") ==
        "(member:1.2.840.113556.1.4.1941:=CN=Alice,OU=Users,DC=corp,DC=example)");
  CHECK(in_chain_filter("member", "CN=x*)(y") ==
        "(member:1.2.840.113556.1.4.1941:=CN=x\\2a\\29\\28y)");
}
