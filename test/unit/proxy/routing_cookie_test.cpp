#include "proxy/routing_cookie.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using postern::core::Secret;
using postern::proxy::RouteClaims;
using postern::proxy::RouteRejection;
using postern::proxy::RoutingCookie;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

RoutingCookie cookie(std::string secret = "0123456789abcdef-cluster-secret") {
  return RoutingCookie(Secret(std::move(secret)));
}

bool known(std::string_view node) {
  return node == "node1" || node == "node2";
}

std::string verdict(const RoutingCookie& c, std::string_view value, std::int64_t now = kNow) {
  auto r = c.verify(value, now, known);
  if (!r) return std::string(postern::proxy::route_rejection_name(r.error()));
  return r->node + " " + r->user + " " + std::to_string(r->expires);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto dot = s.find('.', start);
    out.push_back(s.substr(start, dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

std::string join(const std::vector<std::string>& f) {
  std::string out;
  for (const auto& x : f) out += (out.empty() ? "" : ".") + x;
  return out;
}

}  // namespace

TEST_CASE("routing cookie: what is issued verifies, with its claims") {
  auto c = cookie();
  const auto value = c.issue({"node1", "alice@example.com", kNow + 100});
  CHECK(
      value.starts_with("v1.bm9kZTE.YWxpY2VAZXhhbXBsZS5jb20." + std::to_string(kNow + 100) + "."));
  CHECK(verdict(c, value) == "node1 alice@example.com " + std::to_string(kNow + 100));
  // Only cookie-safe characters (RFC 6265 cookie-octet), so no quoting.
  for (char ch : value) {
    CHECK(((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.'));
  }
  // Another instance with the same secret (another proxy) accepts it.
  CHECK(verdict(cookie(), value) == "node1 alice@example.com " + std::to_string(kNow + 100));
  // Odd bytes in a user survive.
  const auto odd = c.issue({"node2",
                            "b\xc3\xb6"
                            "b.x+y@example.com",
                            kNow + 1});
  CHECK(verdict(c, odd) ==
        "node2 b\xc3\xb6"
        "b.x+y@example.com " +
            std::to_string(kNow + 1));
}

TEST_CASE("routing cookie: expiry and unknown nodes") {
  auto c = cookie();
  const auto value = c.issue({"node1", "alice@example.com", kNow + 100});
  CHECK(verdict(c, value, kNow + 99) != "expired");
  CHECK(verdict(c, value, kNow + 100) == "expired");
  CHECK(verdict(c, value, kNow + 100000) == "expired");
  CHECK(verdict(c, c.issue({"node9", "alice@example.com", kNow + 100})) == "unknown_node");
}

TEST_CASE("routing cookie: every changed field is a forgery") {
  auto c = cookie();
  const auto value = c.issue({"node1", "alice@example.com", kNow + 100});
  auto f = split(value);
  REQUIRE(f.size() == 5);
  auto with = [&](std::size_t i, std::string field) {
    auto g = f;
    g[i] = std::move(field);
    return join(g);
  };
  CHECK(verdict(c, with(1, "bm9kZTI")) == "forged");                          // node2
  CHECK(verdict(c, with(2, "Ym9iQGV4YW1wbGUuY29t")) == "forged");             // bob@example.com
  CHECK(verdict(c, with(3, std::to_string(kNow + 10'000'000))) == "forged");  // later expiry
  // The MAC of another cookie, the MAC with one bit changed, a short MAC.
  const auto other = split(c.issue({"node2", "bob@example.com", kNow + 100}));
  CHECK(verdict(c, with(4, other[4])) == "forged");
  std::string flipped = f[4];
  flipped[3] = flipped[3] == 'A' ? 'B' : 'A';
  CHECK(verdict(c, with(4, flipped)) == "forged");
  CHECK(verdict(c, with(4, f[4].substr(0, 40))) == "forged");
  CHECK(verdict(c, with(4, "")) == "forged");
  // A version we do not know.
  CHECK(verdict(c, with(0, "v2")) == "malformed");
  // Made under another secret.
  auto stranger = cookie("another-secret-of-enough-length!");
  CHECK(verdict(c, stranger.issue({"node1", "alice@example.com", kNow + 100})) == "forged");
  CHECK(verdict(stranger, value) == "forged");
}

TEST_CASE("routing cookie: malformed values") {
  auto c = cookie();
  const auto value = c.issue({"node1", "alice@example.com", kNow + 100});
  // Every truncation fails; none is accepted.
  for (std::size_t n = 0; n < value.size(); ++n) {
    CAPTURE(n);
    auto v = verdict(c, value.substr(0, n));
    CHECK((v == "malformed" || v == "forged"));
  }
  CHECK(verdict(c, value + ".") == "malformed");
  CHECK(verdict(c, value + "x") == "forged");
  CHECK(verdict(c, "") == "malformed");
  CHECK(verdict(c, "v1....") == "malformed");
  CHECK(verdict(c, "garbage") == "malformed");
  CHECK(verdict(c, std::string(5000, 'a')) == "malformed");
  auto f = split(value);
  auto with = [&](std::size_t i, std::string field) {
    auto g = f;
    g[i] = std::move(field);
    return join(g);
  };
  CHECK(verdict(c, with(1, "bm9kZTE=")) == "malformed");  // padding
  CHECK(verdict(c, with(1, "bm9kZTF")) == "malformed");   // non-canonical last character
  CHECK(verdict(c, with(1, "bm9+ZTE")) == "malformed");   // standard alphabet
  CHECK(verdict(c, with(3, "0" + f[3])) == "malformed");  // leading zero
  CHECK(verdict(c, with(3, "-5")) == "malformed");
  CHECK(verdict(c, with(3, "99999999999999999999")) == "malformed");
  CHECK(verdict(c, with(2, "")) == "malformed");  // no user
  // A genuine cookie with an absurdly long user is refused by size, not trusted.
  CHECK(verdict(c, c.issue({"node1", std::string(400, 'u'), kNow + 100})) == "malformed");
}
