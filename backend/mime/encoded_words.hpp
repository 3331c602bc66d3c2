// RFC 2047 encoded words ("=?charset?B|Q?text?=") in header text.
#pragma once

#include <string>
#include <string_view>

namespace postern::node::mime {

// Decodes every encoded word in an unfolded header value and returns UTF-8.
//
// - B (base64) and Q encodings; the charset may carry an RFC 2231 language
//   suffix ("utf-8*en"), which is ignored.
// - Whitespace between two adjacent encoded words is dropped (RFC 2047 section
//   6.2); adjacent words in one charset are joined before conversion, so a
//   multi-byte character split across two words survives.
// - As real mailers do, encoded words are recognised even when glued to other
//   text; an encoded word with whitespace inside, a bad base64 payload or a
//   charset neither built in nor known to iconv is kept as written.
// - Text outside encoded words is copied unchanged (raw 8-bit bytes included).
std::string decode_encoded_words(std::string_view text);

// Decodes base64, ignoring nothing: returns false on a character outside the
// alphabet or misplaced padding. Missing final padding is tolerated.
bool decode_base64(std::string_view in, std::string& out);

}  // namespace postern::node::mime
