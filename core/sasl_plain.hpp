// SASL PLAIN (RFC 4616): the client's response, base64-decoded, is
// "authzid NUL authcid NUL password". We log in as authcid; an authzid other
// than empty or authcid (acting for someone else) is refused. The nodes
// decode it; the proxy decodes it and encodes it again to replay the login
// to a node.
#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "core/secret.hpp"

namespace postern::core {

struct PlainCredentials {
  std::string user;
  Secret password;
};

enum class PlainError {
  BadBase64,     // not base64: the exchange ends (POP3 -ERR, SMTP 501)
  Malformed,     // not two NULs, or an empty user or password
  Impersonation  // authzid names another user
};
std::string_view plain_error_name(PlainError e);

// `response` is the base64 text as sent ("=" is the empty response of RFC 5034).
tl::expected<PlainCredentials, PlainError> decode_plain(std::string_view response);

// The base64 response for `user` and `password` with an empty authzid
// ("\0user\0password"). It carries the password: do not log it.
std::string encode_plain(std::string_view user, std::string_view password);

}  // namespace postern::core
