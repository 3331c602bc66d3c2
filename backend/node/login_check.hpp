// The login rules every node service applies (IMAP, POP3, later SMTP AUTH):
//  - plaintext passwords only on TLS, loopback, or a listener that allows it;
//  - the directory says the password is right and the user is in the required
//    group (mapping::Directory::authenticate);
//  - the account lives on this node (else the client is told to go elsewhere:
//    NO [UNAVAILABLE], or a referral when configured);
//  - the account has the service enabled.
// A master login (a proxy acting for an account it verified itself) replaces
// the first two: the master user's password and a trusted peer instead of the
// user's password; the account's state, group, node and service as above.
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
  std::string master;  // the master user, for a master login (logs: master=...)
};

// Whether a plaintext password may be sent on this connection now.
bool plaintext_login_allowed(const core::Connection& c, const core::ListenerConfig& listener);

// Checks a login; `done` runs once on `reply`.
void check_login(NodeContext& node, std::string_view service, std::string_view user,
                 core::Secret password, core::Executor& reply,
                 std::function<void(LoginResult)> done);

// Checks a master login: `master_user` with `master_password` acting for
// `target_user` (SASL PLAIN authzid). Denied unless `peer_ip` (the socket's
// peer, not a forwarded address) is in config.trusted_proxies and the pair
// matches one of config.master_users; then the target account must exist, be
// active, be in the directory's required group, live on this node and have
// `service` enabled. The hash is checked on the node's WorkerPool. `done`
// runs once on `reply`, never inline; the result's `master` names the master
// user and its detail never holds the password.
void check_master_login(NodeContext& node, std::string_view service, std::string_view target_user,
                        std::string_view master_user, core::Secret master_password,
                        const core::IpAddress& peer_ip, core::Executor& reply,
                        std::function<void(LoginResult)> done);

}  // namespace postern::node
