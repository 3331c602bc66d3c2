// Helpers every fuzz target shares: a check that aborts (libFuzzer reports
// it as a crash with the input), and a cheap hash of the input that targets
// use to pick limits and modes, so one corpus reaches many configurations.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace postern::fuzz {

inline void require(bool ok) {
  if (!ok) std::abort();
}

// FNV-1a, 32 bits.
inline std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

}  // namespace postern::fuzz
