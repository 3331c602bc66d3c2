#include "proxy/routing_cookie.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cassert>
#include <ctime>
#include <optional>
#include <vector>

namespace postern::proxy {

namespace {

constexpr std::string_view kVersion = "v1";
// Domain separation: a MAC made with the same secret for anything else
// never verifies here.
constexpr std::string_view kContext = "postern routing cookie\n";
constexpr std::size_t kMacBytes = 32;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string b64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k]));
  };
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (in.size() - i == 1) {
    const std::uint32_t v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    const std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

int b64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Strict: no padding, and only the canonical form (unused low bits zero), so
// one string of bytes has exactly one encoding.
std::optional<std::string> b64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = b64url_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

// "0" or digits without a leading zero, at most 18 of them (no overflow).
std::optional<std::int64_t> parse_expiry(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s.front() == '0')) return std::nullopt;
  std::int64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// Splits at '.' into exactly `n` fields.
std::optional<std::vector<std::string_view>> split_fields(std::string_view s, std::size_t n) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t dot = s.find('.');
    out.push_back(s.substr(0, dot));
    if (out.size() > n) return std::nullopt;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  if (out.size() != n) return std::nullopt;
  return out;
}

}  // namespace

std::string_view route_rejection_name(RouteRejection r) {
  switch (r) {
    case RouteRejection::Malformed:
      return "malformed";
    case RouteRejection::Forged:
      return "forged";
    case RouteRejection::Expired:
      return "expired";
    case RouteRejection::UnknownNode:
      return "unknown_node";
  }
  return "?";
}

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

RoutingCookie::RoutingCookie(core::Secret secret) : secret_(std::move(secret)) {
  assert(secret_.reveal().size() >= kMinSecretBytes);
}

std::string RoutingCookie::mac(std::string_view signed_part) const {
  std::string data;
  data.reserve(kContext.size() + signed_part.size());
  data.append(kContext).append(signed_part);
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  const auto key = secret_.reveal();
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

std::string RoutingCookie::issue(const RouteClaims& claims) const {
  std::string value = std::string(kVersion) + "." + b64url_encode(claims.node) + "." +
                      b64url_encode(claims.user) + "." + std::to_string(claims.expires);
  return value + "." + b64url_encode(mac(value));
}

tl::expected<RouteClaims, RouteRejection> RoutingCookie::verify(
    std::string_view value, std::int64_t now,
    const std::function<bool(std::string_view)>& node_known) const {
  using tl::unexpected;
  if (value.size() > kMaxValue) return unexpected(RouteRejection::Malformed);
  auto fields = split_fields(value, 5);
  if (!fields || (*fields)[0] != kVersion) return unexpected(RouteRejection::Malformed);
  const auto& f = *fields;
  auto node = b64url_decode(f[1]);
  auto user = b64url_decode(f[2]);
  auto expires = parse_expiry(f[3]);
  auto given_mac = b64url_decode(f[4]);
  if (!node || !user || !expires || !given_mac || node->empty() || user->empty() ||
      node->size() > kMaxNode || user->size() > kMaxUser) {
    return unexpected(RouteRejection::Malformed);
  }
  if (given_mac->size() != kMacBytes) return unexpected(RouteRejection::Forged);
  const std::string_view signed_part = value.substr(0, value.size() - f[4].size() - 1);
  const std::string expected_mac = mac(signed_part);
  if (CRYPTO_memcmp(expected_mac.data(), given_mac->data(), kMacBytes) != 0)
    return unexpected(RouteRejection::Forged);
  if (*expires <= now) return unexpected(RouteRejection::Expired);
  if (!node_known(*node)) return unexpected(RouteRejection::UnknownNode);
  return RouteClaims{std::move(*node), std::move(*user), *expires};
}

}  // namespace postern::proxy
