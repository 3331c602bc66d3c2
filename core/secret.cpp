#include "core/secret.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <vector>

namespace postern::core {

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    wipe();
    value_ = std::move(other.value_);
    other.wipe();
  }
  return *this;
}

void Secret::wipe() noexcept {
  // OPENSSL_cleanse cannot be optimised away, unlike a memset before free.
  // The whole capacity: a moved-from short string is empty but still holds
  // the old bytes in its inline buffer.
  OPENSSL_cleanse(value_.data(), value_.capacity());
  value_.clear();
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

}  // namespace postern::core
