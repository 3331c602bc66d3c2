#include <doctest/doctest.h>

#include "backend/smtp/spf.hpp"
#include "backend/smtp/spf_record.hpp"

using namespace postern;
using namespace postern::node::smtp;

namespace {

SpfMacroContext ctx(std::string_view ip = "192.0.2.3") {
  SpfMacroContext c;
  c.client = *core::IpAddress::parse(ip);
  c.sender = "strong-bad@email.example.com";
  c.domain = "email.example.com";
  c.helo = "mx.example.org";
  c.receiver = "node1.example.net";
  c.timestamp = 1234;
  return c;
}

std::string expand(std::string_view text, const SpfMacroContext& c = ctx(), bool exp = false) {
  auto r = expand_spf_macros(text, c, exp);
  return r ? *r : "ERROR: " + r.error();
}

}  // namespace

TEST_CASE("SPF record selection: v=spf1 alone or followed by a space") {
  CHECK(is_spf_record("v=spf1"));
  CHECK(is_spf_record("V=SPF1 -all"));
  CHECK_FALSE(is_spf_record("v=spf10 -all"));
  CHECK_FALSE(is_spf_record("v=spf1-all"));
  CHECK_FALSE(is_spf_record("spf2.0/pra -all"));
}

TEST_CASE("SPF records parse into mechanisms with qualifiers and CIDR lengths") {
  auto r = parse_spf_record(
      "v=spf1 +a -mx:mail.example.com/24//64 ~ip4:192.0.2.0/24 ?ip6:2001:db8::/32 "
      "include:_spf.example.net exists:%{ir}.rbl.example.org ptr all redirect=_spf.example.com "
      "exp=explain.%{d} unknown-mod=x");
  REQUIRE(r);
  REQUIRE(r->mechanisms.size() == 8);
  const auto& m = r->mechanisms;
  CHECK(m[0].kind == SpfMechanismKind::A);
  CHECK(m[0].qualifier == SpfQualifier::Pass);
  CHECK(m[0].domain_spec.empty());
  CHECK(m[1].kind == SpfMechanismKind::Mx);
  CHECK(m[1].qualifier == SpfQualifier::Fail);
  CHECK(m[1].domain_spec == "mail.example.com");
  CHECK(m[1].cidr4 == 24);
  CHECK(m[1].cidr6 == 64);
  CHECK(m[2].qualifier == SpfQualifier::SoftFail);
  CHECK(m[2].network.to_string() == "192.0.2.0");
  CHECK(m[2].cidr4 == 24);
  CHECK(m[3].qualifier == SpfQualifier::Neutral);
  CHECK(m[3].cidr6 == 32);
  CHECK(m[4].kind == SpfMechanismKind::Include);
  CHECK(m[5].domain_spec == "%{ir}.rbl.example.org");
  CHECK(m[6].kind == SpfMechanismKind::Ptr);
  CHECK(m[7].kind == SpfMechanismKind::All);
  CHECK(m[7].text == "all");
  CHECK(r->redirect == "_spf.example.com");
  CHECK(r->exp == "explain.%{d}");
  CHECK(r->has_all());
  CHECK(m[4].queries_dns());
  CHECK_FALSE(m[2].queries_dns());
}

TEST_CASE("SPF syntax errors are permerrors") {
  for (const char* bad : {
           "v=spf1 foo",                                    // unknown mechanism
           "v=spf1 include",                                // include needs a domain
           "v=spf1 exists:",                                //
           "v=spf1 ip4:192.0.2.0/33",                       // CIDR out of range
           "v=spf1 ip4:192.0.2.0/024",                      // leading zero
           "v=spf1 ip4:2001:db8::1",                        // wrong family
           "v=spf1 ip6:192.0.2.1",                          //
           "v=spf1 a:example.com/",                         // empty CIDR
           "v=spf1 a//129",                                 //
           "v=spf1 all:x",                                  //
           "v=spf1 redirect=a.example redirect=b.example",  // twice
           "v=spf1 exp=a.example exp=b.example",            //
           "v=spf1 include:example.com%",                   // lone %
           "v=spf1 include:%{x}.example.com",               // unknown letter
           "v=spf1 a:%{d0}.example.com",                    // zero parts
           "v=spf1 include:localhost",                      // no top label
           "v=spf1 include:example.123",                    // numeric top label
           "v=spf1 foo=%{q}",                               // unknown modifier, bad macro
       }) {
    CAPTURE(bad);
    CHECK_FALSE(parse_spf_record(bad));
  }
  CHECK(parse_spf_record("v=spf1"));
  CHECK(parse_spf_record("v=spf1  -all "));  // extra spaces
  CHECK(parse_spf_record("v=spf1 a:%{d}"));  // ends in a macro
}

TEST_CASE("SPF macros expand as RFC 7208 section 7.4's examples") {
  CHECK(expand("%{s}") == "strong-bad@email.example.com");
  CHECK(expand("%{o}") == "email.example.com");
  CHECK(expand("%{d}") == "email.example.com");
  CHECK(expand("%{d4}") == "email.example.com");
  CHECK(expand("%{d3}") == "email.example.com");
  CHECK(expand("%{d2}") == "example.com");
  CHECK(expand("%{d1}") == "com");
  CHECK(expand("%{dr}") == "com.example.email");
  CHECK(expand("%{d2r}") == "example.email");
  CHECK(expand("%{l}") == "strong-bad");
  CHECK(expand("%{l-}") == "strong.bad");
  CHECK(expand("%{lr}") == "strong-bad");
  CHECK(expand("%{lr-}") == "bad.strong");
  CHECK(expand("%{l1r-}") == "strong");
  CHECK(expand("%{ir}.%{v}._spf.%{d2}") == "3.2.0.192.in-addr._spf.example.com");
  CHECK(expand("%{lr-}.lp._spf.%{d2}") == "bad.strong.lp._spf.example.com");
  CHECK(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}") ==
        "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  CHECK(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}") ==
        "3.2.0.192.in-addr.strong.lp._spf.example.com");
  CHECK(expand("%{d2}.trusted-domains.example.net") == "example.com.trusted-domains.example.net");
  CHECK(expand("%{ir}.%{v}._spf.%{d2}", ctx("2001:db8::cb01")) ==
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
  CHECK(expand("%{h}") == "mx.example.org");
  CHECK(expand("%%%_%-") == "% %20");
  CHECK(expand("%{L}") == "strong-bad");
  CHECK(expand("%{S}") == "strong-bad%40email.example.com");  // upper case: URL-escaped
  CHECK(expand("%{c} %{r} %{t}", ctx(), true) == "192.0.2.3 node1.example.net 1234");
  CHECK(expand("%{c}").starts_with("ERROR"));  // explanation-only letters
  CHECK(expand("%{i").starts_with("ERROR"));
  CHECK(expand("%x").starts_with("ERROR"));
}

TEST_CASE("an expanded domain over 253 characters loses labels on the left") {
  auto c = ctx();
  c.sender = std::string(60, 'a') + "." + std::string(60, 'b') + "." + std::string(60, 'c') + "." +
             std::string(60, 'd') + "@example.com";
  auto r = expand_spf_domain("%{l}.%{l}.example.com", c);
  REQUIRE(r);
  CHECK(r->size() <= 253);
  CHECK(r->ends_with(".example.com"));
}

TEST_CASE("CIDR matching per family and prefix") {
  auto ip = [](const char* s) { return *core::IpAddress::parse(s); };
  CHECK(spf_cidr_match(ip("192.0.2.77"), ip("192.0.2.0"), 24));
  CHECK_FALSE(spf_cidr_match(ip("192.0.3.77"), ip("192.0.2.0"), 24));
  CHECK(spf_cidr_match(ip("192.0.2.129"), ip("192.0.2.128"), 25));
  CHECK_FALSE(spf_cidr_match(ip("192.0.2.127"), ip("192.0.2.128"), 25));
  CHECK(spf_cidr_match(ip("10.1.2.3"), ip("0.0.0.0"), 0));
  CHECK(spf_cidr_match(ip("2001:db8::1"), ip("2001:db8::"), 32));
  CHECK_FALSE(spf_cidr_match(ip("2001:db9::1"), ip("2001:db8::"), 32));
  CHECK_FALSE(spf_cidr_match(ip("192.0.2.1"), ip("::"), 0));           // families never mix
  CHECK(spf_cidr_match(ip("::ffff:192.0.2.1"), ip("192.0.2.1"), 32));  // v4-mapped is v4
}

TEST_CASE("check_host's domain must be a multi-label name") {
  CHECK(spf_valid_domain("example.com"));
  CHECK_FALSE(spf_valid_domain("localhost"));
  CHECK_FALSE(spf_valid_domain("a..b"));
  CHECK_FALSE(spf_valid_domain(std::string(64, 'a') + ".com"));
}

TEST_CASE("Received-SPF header: result, comment, key-value pairs, folded") {
  SpfRequest req;
  req.client = *core::IpAddress::parse("192.0.2.1");
  req.sender = "bob@example.org";
  req.helo = "mx.example.org";
  req.receiver = "node1.example.com";
  SpfVerdict v;
  v.result = SpfResult::Pass;
  v.mechanism = "ip4:192.0.2.0/24";
  auto h = received_spf_header(req, v);
  CHECK(
      h.starts_with("Received-SPF: pass (node1.example.com: domain of bob@example.org "
                    "designates"));
  std::string unfolded;
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (h.compare(i, 2, "\r\n") == 0) {
      i += 1;
      continue;
    }
    unfolded.push_back(h[i]);
  }
  CHECK(unfolded.find(" client-ip=192.0.2.1; envelope-from=\"bob@example.org\"; "
                      "helo=mx.example.org; receiver=node1.example.com; identity=mailfrom; "
                      "mechanism=\"ip4:192.0.2.0/24\";") != std::string::npos);
  std::size_t start = 0;
  while (true) {  // every line within 78 characters, continuation lines start with a space
    auto end = h.find("\r\n", start);
    CHECK((end == std::string::npos ? h.size() : end) - start <= 78);
    if (end == std::string::npos) break;
    start = end + 2;
    CHECK(h[start] == ' ');
  }

  req.sender = "";
  req.helo = "bad helo\r\nX-Injected: 1";
  v.result = SpfResult::PermError;
  v.problem = "more than 10 \"DNS\" lookups";
  h = received_spf_header(req, v);
  CHECK(h.find("X-Injected: 1\r\n") == std::string::npos);
  CHECK(h.find("\r\nX-Injected") == std::string::npos);
  CHECK(h.find("identity=helo;") != std::string::npos);
  CHECK(h.find("problem=\"more than 10 \\\"DNS\\\" lookups\";") != std::string::npos);
}
