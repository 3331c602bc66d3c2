// The login rules every node service applies (IMAP, POP3, later SMTP AUTH):
//  - plaintext passwords only on TLS, loopback, or a listener that allows it;
//  - the directory says the password is right and the user is in the required
//    group (mapping::Directory::authenticate);
//  - the account lives on this node (else the client is told to go elsewhere:
//    NO [UNAVAILABLE], or a referral when configured);
//  - the account has the service enabled.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "backend/node/node_service.hpp"
#include "core/connection.hpp"
#include "core/secret.hpp"

namespace postern::node {

enum class LoginOutcome { Ok, Denied, WrongNode, ServiceDisabled, TempFail };
std::string_view login_outcome_name(LoginOutcome o);

struct LoginResult {
  LoginOutcome outcome = LoginOutcome::TempFail;
  mapping::Account account;
  std::string detail;  // for the log; never shown to the client
};

// Whether a plaintext password may be sent on this connection now.
bool plaintext_login_allowed(const core::Connection& c, const core::ListenerConfig& listener);

// Checks a login; `done` runs once on `reply`.
void check_login(NodeContext& node, std::string_view service, std::string_view user,
                 core::Secret password, core::Executor& reply,
                 std::function<void(LoginResult)> done);

}  // namespace postern::node
