#include "backend/node/login_check.hpp"

#include <openssl/crypto.h>
#include <strings.h>

#include <memory>

#include "mapping/password_hash.hpp"

namespace postern::node {

namespace {

// The account's node and service, once the directory said who it is.
void place(LoginResult& out, const std::string& me, const std::string& svc) {
  if (strcasecmp(out.account.node.c_str(), me.c_str()) != 0) {
    out.outcome = LoginOutcome::WrongNode;
    out.detail = "account lives on " + (out.account.node.empty() ? "no node" : out.account.node);
  } else if (!out.account.service_enabled(svc)) {
    out.outcome = LoginOutcome::ServiceDisabled;
    out.detail = svc + " is not enabled for the account";
  } else {
    out.outcome = LoginOutcome::Ok;
  }
}

// One master login in progress: what each asynchronous step needs. Shared by
// the steps' callbacks; NodeContext outlives every session and so this.
struct MasterLogin {
  NodeContext& node;
  std::string service;
  std::string target;
  std::string master;
  core::Executor& reply;
  std::function<void(LoginResult)> done;

  void finish(LoginOutcome outcome, std::string detail, mapping::Account account = {}) {
    LoginResult r;
    r.outcome = outcome;
    r.detail = std::move(detail);
    r.account = std::move(account);
    r.master = master;
    done(std::move(r));
  }
  // For answers decided before any asynchronous step: `done` never runs inline.
  void finish_later(LoginOutcome outcome, std::string detail) {
    LoginResult r;
    r.outcome = outcome;
    r.detail = std::move(detail);
    r.master = master;
    reply.post([done = done, r = std::move(r)]() mutable { done(std::move(r)); });
  }
};

bool same_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void master_account_found(std::shared_ptr<MasterLogin> m, mapping::Account account) {
  const auto& dir = m->node.config.directory;
  // The group check the LDAP source makes after a password bind
  // (mapping/ldap_directory.cpp); the file source has no groups.
  const bool group_required =
      dir.source == mapping::DirectoryConfig::Source::Ldap && !dir.ldap.required_group.empty();
  auto placed = [m](mapping::Account a) {
    LoginResult r;
    r.account = std::move(a);
    place(r, m->node.config.name, m->service);
    m->finish(r.outcome, std::move(r.detail), std::move(r.account));
  };
  if (!group_required) return placed(std::move(account));
  const std::string dn = account.dn;
  m->node.directory.is_member(
      dn, dir.ldap.required_group, m->reply,
      [m, placed, account = std::move(account)](mapping::MembershipResult r) mutable {
        switch (r.status) {
          case mapping::MembershipStatus::Member:
            return placed(std::move(account));
          case mapping::MembershipStatus::NotMember:
            return m->finish(LoginOutcome::Denied,
                             "not_in_group: not in the required group: " + r.detail,
                             std::move(account));
          case mapping::MembershipStatus::TempFail:
            return m->finish(LoginOutcome::TempFail, r.detail, std::move(account));
        }
      });
}

void master_password_checked(std::shared_ptr<MasterLogin> m, bool right) {
  if (!right)
    return m->finish(LoginOutcome::Denied,
                     "wrong_password: wrong password for master user " + m->master);
  m->node.directory.lookup(m->target, m->reply, [m](mapping::LookupResult r) {
    switch (r.status) {
      case mapping::LookupStatus::TempFail:
        return m->finish(LoginOutcome::TempFail, r.detail);
      case mapping::LookupStatus::NotFound:
        return m->finish(LoginOutcome::Denied, "unknown_user: " + r.detail);
      case mapping::LookupStatus::Found:
        break;
    }
    // As a password login (mapping/ldap_directory.cpp finish_login).
    if (r.account.state == mapping::AccountState::Disabled)
      return m->finish(LoginOutcome::Denied, "disabled: account disabled", std::move(r.account));
    if (r.account.state == mapping::AccountState::Moving)
      return m->finish(LoginOutcome::TempFail, "account is being moved between nodes",
                       std::move(r.account));
    master_account_found(m, std::move(r.account));
  });
}

}  // namespace

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
            place(out, me, svc);
            break;
        }
        done(std::move(out));
      });
}

void check_master_login(NodeContext& node, std::string_view service, std::string_view target_user,
                        std::string_view master_user, core::Secret master_password,
                        const core::IpAddress& peer_ip, core::Executor& reply,
                        std::function<void(LoginResult)> done) {
  auto m = std::make_shared<MasterLogin>(
      MasterLogin{node, std::string(service), std::string(target_user), std::string(master_user),
                  reply, std::move(done)});
  const auto& config = node.config;
  // Only a proxy may act for someone else; from anywhere else this is a
  // client asking to impersonate, whatever password it holds.
  if (!config.trusted_proxies.contains(peer_ip))
    return m->finish_later(LoginOutcome::Denied, "impersonation: master login from " +
                                                     peer_ip.to_string() + ", not a trusted proxy");
  const MasterUser* entry = nullptr;
  for (const auto& u : config.master_users)
    if (u.user == m->master) entry = &u;
  if (entry == nullptr)
    return m->finish_later(LoginOutcome::Denied,
                           config.master_users.empty()
                               ? "impersonation: no master users configured"
                               : "impersonation: " + m->master + " is not a master user");
  if (entry->password_hash.empty())  // the development "password"
    return m->reply.post([m, right = same_secret(master_password.reveal(), entry->password)] {
      master_password_checked(m, right);
    });
  // crypt(3) is slow on purpose: off the loop.
  auto secret = std::make_shared<core::Secret>(std::move(master_password));
  const bool queued = node.workers.run(
      [secret, hash = entry->password_hash] {
        const bool right = mapping::verify_password(secret->reveal(), hash);
        *secret = core::Secret();
        return right;
      },
      reply, [m](bool right) { master_password_checked(m, right); });
  if (!queued) m->finish_later(LoginOutcome::TempFail, "worker queue full");
}

}  // namespace postern::node
