#include "mapping/password_hash.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

namespace postern::mapping {

namespace {

struct CryptDataWipe {
  void operator()(crypt_data* d) const noexcept {
    // The input field holds the password, output a hash of it.
    OPENSSL_cleanse(d, sizeof(*d));
    delete d;
  }
};
using CryptDataPtr = std::unique_ptr<crypt_data, CryptDataWipe>;

// 32 KiB: too big for the stack of a loop thread, so on the heap, zeroed as
// libxcrypt asks before first use.
CryptDataPtr new_crypt_data() {
  return CryptDataPtr(new crypt_data{});
}

// Copies `text` NUL-terminated into `field`; false if it has a NUL or does not fit.
template <std::size_t N>
bool copy_c_string(char (&field)[N], std::string_view text) {
  if (text.size() >= N || text.find('\0') != std::string_view::npos) return false;
  std::memcpy(field, text.data(), text.size());
  field[text.size()] = '\0';
  return true;
}

// Runs crypt on the password and setting already stored in `data`; nullptr on failure.
const char* run_crypt(crypt_data& data) {
  const char* out = crypt_rn(data.input, data.setting, &data, static_cast<int>(sizeof(data)));
  if (out == nullptr || out[0] == '*') return nullptr;
  return out;
}

std::string failure(const char* call, int err) {
  return std::string(call) + " failed: " + std::error_code(err, std::generic_category()).message();
}

}  // namespace

bool verify_password(std::string_view password, std::string_view hash) {
  if (hash.empty() || hash.front() == '*') return false;
  auto data = new_crypt_data();
  if (!copy_c_string(data->input, password) || !copy_c_string(data->setting, hash)) return false;
  const char* out = run_crypt(*data);
  if (out == nullptr) return false;
  std::size_t len = std::strlen(out);
  return len == hash.size() && CRYPTO_memcmp(out, hash.data(), len) == 0;
}

tl::expected<std::string, std::string> hash_password(std::string_view password,
                                                     PasswordScheme scheme) {
  const char* prefix = scheme == PasswordScheme::Sha512 ? "$6$" : "$y$";
  auto data = new_crypt_data();
  if (!copy_c_string(data->input, password)) {
    return tl::unexpected(std::string("password contains a NUL byte or is longer than ") +
                          std::to_string(CRYPT_MAX_PASSPHRASE_SIZE - 1) + " bytes");
  }
  // No random bytes given: libxcrypt takes them from the OS (getrandom).
  errno = 0;
  if (crypt_gensalt_rn(prefix, 0, nullptr, 0, data->setting, sizeof(data->setting)) == nullptr) {
    return tl::unexpected(failure("crypt_gensalt_rn", errno));
  }
  errno = 0;
  const char* out = run_crypt(*data);
  if (out == nullptr) {
    return tl::unexpected(failure("crypt_rn", errno));
  }
  return std::string(out);
}

}  // namespace postern::mapping
