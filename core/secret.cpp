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
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
  value_.clear();
}

}  // namespace postern::core
