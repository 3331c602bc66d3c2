#include <doctest/doctest.h>

#include "core/access_control.hpp"
#include "core/net_address.hpp"

using namespace postern::core;

TEST_CASE("endpoints parse IPv4, bracketed IPv6 and wildcards") {
  auto a = Endpoint::parse("127.0.0.1:11143");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 11143);
  auto b = Endpoint::parse("[::1]:993");
  REQUIRE(b);
  CHECK(b->host == "::1");
  CHECK(b->to_string() == "[::1]:993");
  CHECK(Endpoint::parse("*:25")->host.empty());
  CHECK_FALSE(Endpoint::parse("::1:25"));
  CHECK_FALSE(Endpoint::parse("127.0.0.1"));
  CHECK_FALSE(Endpoint::parse("127.0.0.1:70000"));
  CHECK_FALSE(Endpoint::parse("[::1]25"));
}

TEST_CASE("networks match by prefix, v4-mapped addresses as v4") {
  auto n = Network::parse("10.1.0.0/16");
  REQUIRE(n);
  CHECK(n->contains(*IpAddress::parse("10.1.200.3")));
  CHECK_FALSE(n->contains(*IpAddress::parse("10.2.0.1")));
  CHECK(n->contains(*IpAddress::parse("::ffff:10.1.2.3")));
  auto odd = Network::parse("192.168.1.128/25");
  CHECK(odd->contains(*IpAddress::parse("192.168.1.200")));
  CHECK_FALSE(odd->contains(*IpAddress::parse("192.168.1.100")));
  auto v6 = Network::parse("fd00::/8");
  CHECK(v6->contains(*IpAddress::parse("fd12::1")));
  CHECK_FALSE(v6->contains(*IpAddress::parse("10.0.0.1")));
  CHECK(Network::parse("127.0.0.1")->contains(*IpAddress::parse("127.0.0.1")));
  CHECK_FALSE(Network::parse("10.0.0.0/33"));
  CHECK_FALSE(Network::parse("nonsense/8"));
}

TEST_CASE("access rules: first match wins, no match allows") {
  AccessRules rules(
      {{true, *Network::parse("127.0.0.0/8")}, {false, *Network::parse("0.0.0.0/0")}});
  CHECK(rules.allowed(*IpAddress::parse("127.0.0.1")));
  CHECK_FALSE(rules.allowed(*IpAddress::parse("192.0.2.1")));
  CHECK(rules.allowed(*IpAddress::parse("::1")));  // no IPv6 rule: allowed
}

TEST_CASE("flow control counts concurrent and new connections") {
  FlowLimits limits;
  limits.max_connections = 3;
  limits.max_per_ip = 2;
  limits.max_new_per_ip = 3;
  limits.interval = std::chrono::seconds(60);
  FlowControl flow(limits);
  auto t = FlowControl::Clock::now();
  auto a = *IpAddress::parse("192.0.2.1");
  auto b = *IpAddress::parse("192.0.2.2");
  CHECK(flow.admit(a, t) == FlowVerdict::Accept);
  CHECK(flow.admit(a, t) == FlowVerdict::Accept);
  CHECK(flow.admit(a, t) == FlowVerdict::TooManyFromIp);
  CHECK(flow.admit(b, t) == FlowVerdict::Accept);
  CHECK(flow.admit(b, t) == FlowVerdict::TooMany);
  flow.release(a);
  CHECK(flow.active() == 2);
  CHECK(flow.admit(a, t) == FlowVerdict::Accept);  // third new one from a
  flow.release(a);
  CHECK(flow.admit(a, t) == FlowVerdict::TooFastFromIp);  // a fourth in the interval
  CHECK(flow.admit(a, t + std::chrono::seconds(61)) == FlowVerdict::Accept);
}

TEST_CASE("addresses print as inet_ntop prints them") {
  for (const char* text : {"0.0.0.0", "1.2.3.4", "10.0.0.9", "127.0.0.1", "192.0.2.10",
                           "99.100.101.255", "255.255.255.255", "::1", "2001:db8::42"}) {
    auto ip = IpAddress::parse(text);
    REQUIRE(ip);
    CHECK(ip->to_string() == text);
  }
  // Every byte value, in each position.
  for (unsigned b = 0; b < 256; ++b) {
    const std::string d = std::to_string(b);
    const std::string text = d + "." + d + ".0." + d;
    CHECK(IpAddress::parse(text)->to_string() == text);
  }
  CHECK(IpAddress::parse("::ffff:10.1.2.3")->to_string() == "10.1.2.3");
}
