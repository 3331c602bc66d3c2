// Where an account lives under the store root, derived from its canonical
// address without trusting any byte of it.
//
//   "Alice@Example.COM"  ->  "example.com/alice"
//   "../x@d"             ->  "d/..%2Fx"
//   "..@d"               ->  "d/%2E%2E"
//
// Each of the domain (after the last '@') and the local part becomes exactly
// one path component: ASCII lower-cased, every byte outside [a-z0-9._+-]
// written as %XX (upper-case hex, so '%' itself becomes "%25" and the mapping
// is injective), and a component "." or ".." fully encoded. No component is
// empty. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "backend/store/store_error.hpp"

namespace postern::node::store {

// RFC 5321 4.5.3.1: 64 + 1 + 255, rounded as DESIGN.md says.
constexpr std::size_t kMaxAddressBytes = 320;

// One safe path component for `text` (which may be empty: then "").
std::string encode_path_component(std::string_view text);

// "<domain>/<local>" relative to the store root. BadArgument when the address
// is empty, longer than kMaxAddressBytes, has no '@', or an empty side.
StoreResult<std::string> account_relative_path(std::string_view address);

}  // namespace postern::node::store
