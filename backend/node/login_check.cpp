#include "backend/node/login_check.hpp"

#include <strings.h>

namespace postern::node {

std::string_view login_outcome_name(LoginOutcome o) {
  switch (o) {
    case LoginOutcome::Ok:
      return "ok";
    case LoginOutcome::Denied:
      return "denied";
    case LoginOutcome::WrongNode:
      return "wrong_node";
    case LoginOutcome::ServiceDisabled:
      return "service_disabled";
    case LoginOutcome::TempFail:
      return "tempfail";
  }
  return "?";
}

bool plaintext_login_allowed(const core::Connection& c, const core::ListenerConfig& listener) {
  return c.tls_active() || c.peer().is_loopback() || listener.allow_plaintext_auth;
}

void check_login(NodeContext& node, std::string_view service, std::string_view user,
                 core::Secret password, core::Executor& reply,
                 std::function<void(LoginResult)> done) {
  std::string svc(service);
  const std::string& me = node.config.name;
  node.directory.authenticate(
      user, std::move(password), reply, [svc, &me, done = std::move(done)](mapping::AuthResult r) {
        LoginResult out;
        out.detail = r.detail;
        switch (r.status) {
          case mapping::AuthStatus::TempFail:
            out.outcome = LoginOutcome::TempFail;
            break;
          case mapping::AuthStatus::Denied:
            out.outcome = LoginOutcome::Denied;
            out.detail = std::string(mapping::deny_reason_name(r.reason)) + ": " + r.detail;
            break;
          case mapping::AuthStatus::Ok:
            out.account = std::move(r.account);
            if (strcasecmp(out.account.node.c_str(), me.c_str()) != 0) {
              out.outcome = LoginOutcome::WrongNode;
              out.detail =
                  "account lives on " + (out.account.node.empty() ? "no node" : out.account.node);
            } else if (!out.account.service_enabled(svc)) {
              out.outcome = LoginOutcome::ServiceDisabled;
              out.detail = svc + " is not enabled for the account";
            } else {
              out.outcome = LoginOutcome::Ok;
            }
            break;
        }
        done(std::move(out));
      });
}

}  // namespace postern::node
