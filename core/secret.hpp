// A password or other secret: moved, never copied by accident, wiped from memory
// when destroyed, and never printed (there is no operator<<).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postern::core {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }
  Secret& operator=(Secret&& other) noexcept;
  ~Secret() { wipe(); }

  // An explicit copy, for the rare place that must keep its own.
  Secret clone() const { return Secret(value_); }
  std::string_view reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  void wipe() noexcept;
  std::string value_;
};

// `n` bytes from OpenSSL's CSPRNG, drawn in blocks per thread (one
// RAND_bytes call serves many small requests); false if the generator fails.
bool random_bytes(unsigned char* out, std::size_t n);

// `bytes` random bytes as lowercase hex (session tokens, the proxy's reuse
// tokens); "" if the generator fails, which callers must treat as an error.
std::string random_hex(std::size_t bytes);

}  // namespace postern::core
