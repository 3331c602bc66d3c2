// SASL PLAIN (RFC 4616): the client's response, base64-decoded, is
// "authzid NUL authcid NUL password". We log in as authcid; an authzid other
// than empty or authcid (acting for someone else) is refused, unless the
// caller asks for it: a node takes one from its proxies' master login
// (authcid = the master user, authzid = the account). The nodes decode it;
// the proxy decodes it and encodes it again to replay the login to a node.
#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "core/secret.hpp"

namespace postern::core {

struct PlainCredentials {
  std::string user;  // authcid: whose password this is
  Secret password;
  // The account to act for, when it names someone other than `user`; empty
  // when absent or equal to `user` (case-insensitively). Only set under
  // AuthzidPolicy::Return.
  std::string authzid;
};

enum class AuthzidPolicy {
  Refuse,  // an authzid other than the user is PlainError::Impersonation
  Return   // it is returned in PlainCredentials::authzid; the caller decides
};

enum class PlainError {
  BadBase64,     // not base64: the exchange ends (POP3 -ERR, SMTP 501)
  Malformed,     // not two NULs, or an empty user or password
  Impersonation  // authzid names another user
};
std::string_view plain_error_name(PlainError e);

// `response` is the base64 text as sent ("=" is the empty response of RFC 5034).
tl::expected<PlainCredentials, PlainError> decode_plain(
    std::string_view response, AuthzidPolicy policy = AuthzidPolicy::Refuse);

// The base64 response for `user` and `password` with an empty authzid
// ("\0user\0password"). It carries the password: do not log it.
std::string encode_plain(std::string_view user, std::string_view password);
// The same with an authzid: log in as `authcid` to act for `authzid` (a
// master login: "authzid\0master\0master-password").
std::string encode_plain(std::string_view authzid, std::string_view authcid,
                         std::string_view password);

}  // namespace postern::core
