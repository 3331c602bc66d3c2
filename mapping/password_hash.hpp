// crypt(3) password hashes for the file source (DESIGN.md section 4), through
// libxcrypt's re-entrant calls.
//
// Both functions are thread-safe and slow on purpose (yescrypt takes tens of
// milliseconds and megabytes of memory): never call them on an event loop that
// serves sessions. Buffers that held the password are wiped before they are freed.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

namespace postern::mapping {

enum class PasswordScheme { Sha512, Yescrypt };

// True when `password` hashes to `hash` (any scheme libxcrypt knows; users.map
// allows only SHA-512 and yescrypt). False on a mismatch and on every error: a
// malformed or unsupported hash, a password or hash with a NUL byte or too long
// for crypt, a failure token ("*0", "*1"). The comparison is constant-time.
bool verify_password(std::string_view password, std::string_view hash);

// A new hash of `password` with a random salt from the operating system and the
// scheme's default cost. The error is a human-readable reason.
tl::expected<std::string, std::string> hash_password(std::string_view password,
                                                     PasswordScheme scheme);

}  // namespace postern::mapping
