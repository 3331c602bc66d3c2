// The proxy's routing cookie for WebMail (DESIGN.md section 5): after a
// login the proxy sets `postern_route`, which names the user's node, the user
// and an expiry, signed with HMAC-SHA-256 under the cluster's secret. Any
// proxy holding the secret routes the browser's later requests by it, with
// no state shared between proxies.
//
//   v1.<base64url(node)>.<base64url(user)>.<expiry, Unix seconds>.<base64url(mac)>
//
// The MAC covers a context label and everything before its own '.', so a
// changed node, user, expiry or version fails the check; it is compared in
// constant time. The value is not secret (the node and user are readable);
// it must only be unforgeable. A browser cannot choose where its requests go:
// a value that is malformed, forged, expired or names a node this proxy does
// not know is refused as a whole.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "core/secret.hpp"

namespace postern::proxy {

struct RouteClaims {
  std::string node;
  std::string user;
  std::int64_t expires = 0;  // Unix seconds
};

enum class RouteRejection {
  Malformed,    // not our format (or over the size limits)
  Forged,       // the MAC does not match: changed, or made under another secret
  Expired,      // genuine but past its expiry
  UnknownNode,  // genuine, but the node is not in this proxy's table
};
std::string_view route_rejection_name(RouteRejection r);

class RoutingCookie {
 public:
  static constexpr std::string_view kName = "postern_route";
  // Below this the secret could be guessed offline from one cookie.
  static constexpr std::size_t kMinSecretBytes = 16;
  static constexpr std::size_t kMaxNode = 64;
  static constexpr std::size_t kMaxUser = 320;  // RFC 5321 path limits, with room
  static constexpr std::size_t kMaxValue = 1024;

  // `secret` has at least kMinSecretBytes (the configuration checks).
  explicit RoutingCookie(core::Secret secret);

  // The cookie value for `claims`. Node and user are not checked beyond the
  // size limits (callers pass what the directory said).
  std::string issue(const RouteClaims& claims) const;

  // The claims of a genuine, unexpired value naming a node `node_known`
  // accepts. Checks the form, then the MAC, then the expiry, then the node.
  tl::expected<RouteClaims, RouteRejection> verify(
      std::string_view value, std::int64_t now,
      const std::function<bool(std::string_view)>& node_known) const;

 private:
  std::string mac(std::string_view signed_part) const;
  core::Secret secret_;
};

// The Unix time now, as verify() and issue() take it.
std::int64_t unix_now();

}  // namespace postern::proxy
