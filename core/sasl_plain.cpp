#include "core/sasl_plain.hpp"

#include <strings.h>

#include "core/base64.hpp"

namespace postern::core {

std::string_view plain_error_name(PlainError e) {
  switch (e) {
    case PlainError::BadBase64:
      return "bad_base64";
    case PlainError::Malformed:
      return "malformed";
    case PlainError::Impersonation:
      return "impersonation";
  }
  return "?";
}

tl::expected<PlainCredentials, PlainError> decode_plain(std::string_view response,
                                                        AuthzidPolicy policy) {
  if (response == "=") response = {};
  auto raw = base64_decode(response);
  if (!raw) return tl::unexpected(PlainError::BadBase64);
  // The decoded text holds the password: wipe it on every path.
  Secret holder(std::move(*raw));
  std::string_view text = holder.reveal();
  const std::size_t first = text.find('\0');
  if (first == std::string_view::npos) return tl::unexpected(PlainError::Malformed);
  const std::size_t second = text.find('\0', first + 1);
  if (second == std::string_view::npos) return tl::unexpected(PlainError::Malformed);
  std::string_view authzid = text.substr(0, first);
  std::string_view authcid = text.substr(first + 1, second - first - 1);
  std::string_view password = text.substr(second + 1);
  if (authcid.empty() || password.empty() || password.find('\0') != std::string_view::npos)
    return tl::unexpected(PlainError::Malformed);
  const bool other =
      !authzid.empty() && (authzid.size() != authcid.size() ||
                           strncasecmp(authzid.data(), authcid.data(), authcid.size()) != 0);
  if (other && policy == AuthzidPolicy::Refuse) return tl::unexpected(PlainError::Impersonation);
  return PlainCredentials{std::string(authcid), Secret(std::string(password)),
                          other ? std::string(authzid) : std::string()};
}

std::string encode_plain(std::string_view user, std::string_view password) {
  return encode_plain({}, user, password);
}

std::string encode_plain(std::string_view authzid, std::string_view authcid,
                         std::string_view password) {
  std::string raw;
  raw.reserve(authzid.size() + authcid.size() + password.size() + 2);
  raw += authzid;
  raw += '\0';
  raw += authcid;
  raw += '\0';
  raw += password;
  Secret holder(std::move(raw));  // wiped when done
  return base64_encode(holder.reveal());
}

}  // namespace postern::core
