// Base64 (RFC 4648 section 4) for protocol exchanges: SASL responses and
// challenges, which must be exact. (MIME bodies are decoded leniently
// elsewhere, as RFC 2045 asks of readers.)
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::core {

// With padding.
std::string base64_encode(std::string_view bytes);

// Strict: only the alphabet, '=' only at the end and only as much as the last
// group needs. Missing final padding is tolerated (some clients omit it); a
// lone final character (which cannot encode a byte) is not. nullopt if
// malformed. "" decodes to "".
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace postern::core
