#include "core/secret.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <array>
#include <cstring>
#include <mutex>
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

namespace {

// OpenSSL's generator, drawn in blocks per thread. A RAND_bytes call costs
// about 3 µs whatever its size (its fork check, locking and reseed
// bookkeeping): more than the rest of a proxy login's user-space work, for
// the 16 bytes of its reuse token. A block serves 256 such tokens. Bytes are
// wiped from the block as they are handed out, and the forking thread's block
// is dropped in a child (no two processes hand out the same bytes).
class RandomBlock {
 public:
  static constexpr std::size_t kSize = 4096;

  ~RandomBlock() { drop(); }  // a later take() on this thread refills rather than hand out zeros

  bool take(unsigned char* out, std::size_t n) {
    if (n == 0) return true;  // `out` may be null
    if (n > kSize) return RAND_bytes(out, static_cast<int>(n)) == 1;
    if (kSize - used_ < n) {
      if (RAND_bytes(bytes_.data(), static_cast<int>(kSize)) != 1) return false;
      used_ = 0;
    }
    std::memcpy(out, bytes_.data() + used_, n);
    OPENSSL_cleanse(bytes_.data() + used_, n);
    used_ += n;
    return true;
  }

  void drop() {
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
    used_ = kSize;
  }

 private:
  std::array<unsigned char, kSize> bytes_{};
  std::size_t used_ = kSize;  // all used: the first take() fills the block
};

thread_local RandomBlock t_random;

}  // namespace

bool random_bytes(unsigned char* out, std::size_t n) {
  static std::once_flag once;
  std::call_once(once, [] { pthread_atfork(nullptr, nullptr, [] { t_random.drop(); }); });
  return t_random.take(out, n);
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (!random_bytes(raw.data(), raw.size())) return {};
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
