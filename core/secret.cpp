#include "core/secret.hpp"

#include <openssl/crypto.h>

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

}  // namespace postern::core
