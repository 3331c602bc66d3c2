#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/dns_cache.hpp"
#include "core/dns_message.hpp"

using namespace postern::core;

namespace {

std::vector<unsigned char> hex(std::string_view h) {
  std::vector<unsigned char> out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<unsigned char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

// dnsmasq's answer to "example.test MX": one record, TTL 300, name compressed.
const auto kMxAnswer =
    hex("123485800001000100000000076578616d706c65047465737400000f0001c00c000f00010000012c0013000a02"
        "6d78076578616d706c65047465737400");

// An NXDOMAIN for "x.example" with SOA (TTL 3600, MINIMUM 120) in the authority section.
const auto kNxWithSoa =
    hex("abcd81830001000000010000"
        "01780665786d706c6500"
        "00010001"
        "c00e"
        "00060001"
        "00000e10"
        "001e"
        "026e73c00e"
        "02686dc00e"
        "00000001000000020000000300000004"
        "00000078");

}  // namespace

TEST_CASE("dns_answer_ttl reads the smallest TTL of the asked type") {
  auto ttl = dns_answer_ttl(kMxAnswer, 15);
  REQUIRE(ttl);
  CHECK(*ttl == 300);
  CHECK_FALSE(dns_answer_ttl(kMxAnswer, 1));  // no A record in it
  CHECK_FALSE(dns_negative_ttl(kMxAnswer));
}

TEST_CASE("dns_negative_ttl is min(SOA TTL, SOA MINIMUM)") {
  auto ttl = dns_negative_ttl(kNxWithSoa);
  REQUIRE(ttl);
  CHECK(*ttl == 120);
}

TEST_CASE("DNS message parsing survives every truncation") {
  for (std::size_t n = 0; n < kMxAnswer.size(); ++n) {
    std::span<const unsigned char> part(kMxAnswer.data(), n);
    CHECK_FALSE(dns_answer_ttl(part, 15));
  }
  for (std::size_t n = 0; n < kNxWithSoa.size(); ++n) {
    std::span<const unsigned char> part(kNxWithSoa.data(), n);
    CHECK_FALSE(dns_negative_ttl(part));
  }
}

TEST_CASE("normalize_dns_name lowers case, drops the root dot, rejects bad names") {
  CHECK(normalize_dns_name("Mail.Example.COM.") == "mail.example.com");
  CHECK(normalize_dns_name("_spf.example.com") == "_spf.example.com");
  CHECK_FALSE(normalize_dns_name(""));
  CHECK_FALSE(normalize_dns_name("."));
  CHECK_FALSE(normalize_dns_name("a..b"));
  CHECK_FALSE(normalize_dns_name("a b.com"));
  CHECK_FALSE(normalize_dns_name("a\\.com"));
  CHECK_FALSE(normalize_dns_name(std::string(64, 'a') + ".com"));
  CHECK(normalize_dns_name(std::string(63, 'a') + ".com"));
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefg.";
  CHECK_FALSE(normalize_dns_name(long_name.substr(0, 254)));
}

TEST_CASE("DnsCache evicts the least recently used and honours TTLs") {
  using namespace std::chrono_literals;
  DnsCache<int> cache(2);
  auto t0 = DnsCache<int>::Clock::now();
  cache.put("a", 1, 10s, t0);
  cache.put("b", 2, 10s, t0);
  CHECK(cache.get("a", t0) == 1);  // a is now the most recent
  cache.put("c", 3, 10s, t0);      // evicts b
  CHECK_FALSE(cache.get("b", t0));
  CHECK(cache.get("a", t0) == 1);
  CHECK(cache.get("c", t0) == 3);
  CHECK_FALSE(cache.get("a", t0 + 10s));  // expired
  CHECK(cache.size() == 1);
  cache.put("z", 9, 0s, t0);  // TTL 0: not kept
  CHECK_FALSE(cache.get("z", t0));
  DnsCache<int> off(0);
  off.put("a", 1, 10s, t0);
  CHECK_FALSE(off.get("a", t0));
}
