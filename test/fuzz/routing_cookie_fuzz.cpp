// libFuzzer target for the proxy's routing cookie (proxy/routing_cookie). Two
// properties: a value verify() accepts is exactly the one issue() makes for
// its claims (nothing else gets through: no second spelling, no forgery);
// and claims taken from the input, issued and then changed in one byte
// chosen by the input's hash, are refused, while unchanged they come back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/routing_cookie.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;
using postern::proxy::RouteClaims;
using postern::proxy::RoutingCookie;

constexpr std::int64_t kNow = 1'800'000'000;

const RoutingCookie& cookie() {
  static const RoutingCookie c(postern::core::Secret("fuzzing-secret-0123456789abcdef"));
  return c;
}

bool any_node(std::string_view) {
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  const auto& c = cookie();

  if (auto claims = c.verify(input, kNow, any_node)) require(c.issue(*claims) == input);

  // Claims from the input: node before the first NUL, the user after it.
  const std::size_t nul = input.find('\0');
  RouteClaims claims;
  claims.node = std::string(input.substr(0, nul));
  claims.user = nul == std::string_view::npos ? "u" : std::string(input.substr(nul + 1));
  claims.expires = kNow + 1 + static_cast<std::int64_t>(hash % 100000);
  const std::string value = c.issue(claims);
  auto back = c.verify(value, kNow, any_node);
  const bool fits = !claims.node.empty() && !claims.user.empty() &&
                    claims.node.size() <= RoutingCookie::kMaxNode &&
                    claims.user.size() <= RoutingCookie::kMaxUser;
  require(back.has_value() == fits);
  if (back) require(back->node == claims.node && back->user == claims.user);
  std::string changed = value;
  const std::size_t at = (hash >> 8) % changed.size();
  changed[at] = static_cast<char>(changed[at] ^ (1 + (hash & 0x3f)));
  require(!c.verify(changed, kNow, any_node));
  return 0;
}
