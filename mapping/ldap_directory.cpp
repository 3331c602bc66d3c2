#include "mapping/ldap_directory.hpp"

#include <ldap.h>
#include <strings.h>

#include <fmt/format.h>
#include <charconv>
#include <stdexcept>

#include "core/log.hpp"
#include "mapping/ldap_template.hpp"

namespace postern::mapping {

namespace {

int ldap_scope(LdapScope s) {
  switch (s) {
    case LdapScope::Base:
      return LDAP_SCOPE_BASE;
    case LdapScope::One:
      return LDAP_SCOPE_ONELEVEL;
    case LdapScope::Sub:
      return LDAP_SCOPE_SUBTREE;
  }
  return LDAP_SCOPE_SUBTREE;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// A reply that says the directory could not answer (as opposed to "no").
bool temporary(const LdapReply& r) {
  if (r.outcome != LdapOutcome::Success) return true;
  switch (r.code) {
    case LDAP_BUSY:
    case LDAP_UNAVAILABLE:
    case LDAP_UNWILLING_TO_PERFORM:
    case LDAP_SERVER_DOWN:
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
    case LDAP_ADMINLIMIT_EXCEEDED:
    case LDAP_OTHER:
    case LDAP_CONNECT_ERROR:
    case LDAP_LOCAL_ERROR:
    case LDAP_OPERATIONS_ERROR:
      return true;
    default:
      return false;
  }
}

template <class Result>
void post_result(core::Executor& reply, std::function<void(Result)> done, Result result) {
  reply.post(
      [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
}

}  // namespace

struct LdapDirectory::Login {
  Address address;
  core::Secret password;
  Account account;
  core::Executor* reply = nullptr;
  AuthCallback done;

  void answer(AuthStatus status, DenyReason reason, std::string detail) {
    AuthResult r{status, reason, std::move(account), std::move(detail)};
    password = core::Secret();
    post_result(*reply, std::move(done), std::move(r));
  }
};

LdapDirectory::LdapDirectory(LdapConfig config, std::string primary_domain)
    : config_(std::move(config)), primary_domain_(std::move(primary_domain)) {
  if (auto ok = check_template(config_.user_filter); !ok) {
    throw std::invalid_argument("user_filter: " + ok.error());
  }
  if (auto ok = check_template(config_.dn_template); !ok) {
    throw std::invalid_argument("auth.dn_template: " + ok.error());
  }
  for (const auto* a :
       {&config_.login_attribute, &config_.node_attribute, &config_.alias_attribute,
        &config_.state_attribute, &config_.services_attribute, &config_.quota_attribute}) {
    if (!a->empty()) account_attributes_.push_back(*a);
  }
  search_pool_ = std::make_unique<LdapPool>(config_, LdapConnection::Role::Search,
                                            config_.pool_size, config_.max_pending, "ldap-search");
  auth_pool_ = std::make_unique<LdapPool>(config_, LdapConnection::Role::Auth,
                                          config_.auth_pool_size, config_.max_pending, "ldap-auth");
  groups_ = std::make_unique<LdapGroupCheck>(config_, *search_pool_);
}

LdapDirectory::~LdapDirectory() {
  // Stop both before joining either: a search callback may submit a bind.
  search_pool_->stop();
  auth_pool_->stop();
  groups_.reset();
  auth_pool_.reset();
  search_pool_.reset();
}

Account LdapDirectory::account_from_entry(const LdapEntry& e, const Address& asked) const {
  Account a;
  a.dn = e.dn;
  a.address = asked.full();
  const auto& logins = e.values(config_.login_attribute);
  if (!logins.empty()) {
    a.address = logins.front();
    for (const auto& v : logins) {
      if (iequals(v, asked.full())) a.address = v;
    }
  }
  if (const auto& nodes = e.values(config_.node_attribute); !nodes.empty()) a.node = nodes.front();
  a.aliases = e.values(config_.alias_attribute);
  if (const auto& states = e.values(config_.state_attribute); !states.empty()) {
    auto s = parse_account_state(states.front());
    if (!s) {
      // An unknown state must not open the door: treat it as disabled.
      core::log_warn("ldap_unknown_state").kv("dn", e.dn).kv("value", states.front());
    }
    a.state = s.value_or(AccountState::Disabled);
  }
  a.services = e.values(config_.services_attribute);
  if (const auto& q = e.values(config_.quota_attribute); !q.empty()) {
    std::uint64_t bytes = 0;
    auto [ptr, ec] = std::from_chars(q.front().data(), q.front().data() + q.front().size(), bytes);
    if (ec == std::errc() && ptr == q.front().data() + q.front().size()) a.quota_bytes = bytes;
  }
  a.attributes = e.attributes;
  return a;
}

void LdapDirectory::find_account(const Address& address, std::function<void(LookupResult)> done) {
  auto r = std::make_unique<LdapRequest>();
  r->kind = LdapRequest::Kind::Search;
  r->dn = config_.base_dn;
  r->scope = ldap_scope(config_.scope);
  r->filter = expand_template(config_.user_filter, address, TemplateKind::Filter);
  r->attributes = account_attributes_;
  r->deadline = LdapClock::now() + config_.search_timeout;
  r->done = [this, address, done = std::move(done)](LdapReply reply) {
    if (temporary(reply)) {
      done({LookupStatus::TempFail, {}, "directory: " + reply.message});
      return;
    }
    if (reply.code == LDAP_NO_SUCH_OBJECT ||
        (reply.code == LDAP_SUCCESS && reply.entries.empty())) {
      done({LookupStatus::NotFound, {}, "no entry matches"});
      return;
    }
    if (reply.code != LDAP_SUCCESS && reply.code != LDAP_SIZELIMIT_EXCEEDED) {
      done({LookupStatus::TempFail,
            {},
            fmt::format("directory error {}: {}", reply.code, reply.message)});
      return;
    }
    if (reply.entries.size() > 1) {
      // Two entries for one login is a directory mistake; routing to either
      // could be wrong, bouncing would lose mail: answer "try later".
      core::log_error("ldap_ambiguous_login")
          .kv("login", address.full())
          .kv("entries", reply.entries.size());
      done({LookupStatus::TempFail,
            {},
            fmt::format("{} entries match the login", reply.entries.size())});
      return;
    }
    done({LookupStatus::Found, account_from_entry(reply.entries.front(), address), ""});
  };
  search_pool_->submit(std::move(r));
}

void LdapDirectory::lookup(std::string_view login, core::Executor& reply, LookupCallback done) {
  auto address = parse_login(login, primary_domain_);
  if (!address) {
    post_result(
        reply, std::move(done),
        LookupResult{LookupStatus::NotFound, {}, std::string(address_error_text(address.error()))});
    return;
  }
  find_account(*address, [&reply, done = std::move(done)](LookupResult result) mutable {
    post_result(reply, std::move(done), std::move(result));
  });
}

void LdapDirectory::bind_as(std::string dn, core::Secret password,
                            std::function<void(LdapReply)> done) {
  auto r = std::make_unique<LdapRequest>();
  r->kind = LdapRequest::Kind::Bind;
  r->dn = std::move(dn);
  r->secret = std::move(password);
  r->deadline = LdapClock::now() + config_.bind_timeout;
  r->done = std::move(done);
  auth_pool_->submit(std::move(r));
}

void LdapDirectory::compare_password(std::string dn, core::Secret password,
                                     std::function<void(LdapReply)> done) {
  auto r = std::make_unique<LdapRequest>();
  r->kind = LdapRequest::Kind::Compare;
  r->dn = std::move(dn);
  r->attribute = config_.password_attribute;
  r->secret = std::move(password);
  r->deadline = LdapClock::now() + config_.search_timeout;
  r->done = std::move(done);
  search_pool_->submit(std::move(r));
}

void LdapDirectory::authenticate(std::string_view login, core::Secret password,
                                 core::Executor& reply, AuthCallback done) {
  auto l = std::make_shared<Login>();
  l->reply = &reply;
  l->done = std::move(done);
  auto address = parse_login(login, primary_domain_);
  if (!address) {
    l->answer(AuthStatus::Denied, DenyReason::BadLogin,
              std::string(address_error_text(address.error())));
    return;
  }
  l->address = *address;
  // An empty password would make a simple bind "unauthenticated" and succeed
  // (RFC 4513 5.1.2): refuse it before the directory sees it.
  if (password.empty()) {
    l->answer(AuthStatus::Denied, DenyReason::WrongPassword, "empty password");
    return;
  }
  l->password = std::move(password);

  auto on_password = [this, l](LdapReply r, bool via_compare) {
    if (temporary(r)) {
      l->answer(AuthStatus::TempFail, DenyReason::None, "directory: " + r.message);
    } else if (via_compare ? r.code == LDAP_COMPARE_TRUE : r.code == LDAP_SUCCESS) {
      finish_login(l);
    } else if (r.code == LDAP_INVALID_CREDENTIALS || r.code == LDAP_COMPARE_FALSE ||
               r.code == LDAP_NO_SUCH_ATTRIBUTE || r.code == LDAP_INAPPROPRIATE_AUTH) {
      l->answer(AuthStatus::Denied, DenyReason::WrongPassword, "wrong password");
    } else {
      l->answer(AuthStatus::TempFail, DenyReason::None,
                fmt::format("directory error {}: {}", r.code, r.message));
    }
  };

  if (config_.auth_mode == AuthMode::DnTemplate) {
    // Bind first with the DN the template gives; then read the account.
    std::string dn = expand_template(config_.dn_template, l->address, TemplateKind::Dn);
    bind_as(dn, l->password.clone(), [this, l, on_password](LdapReply r) {
      if (temporary(r) || r.code != LDAP_SUCCESS) {
        on_password(std::move(r), false);
        return;
      }
      find_account(l->address, [this, l](LookupResult found) {
        if (found.status == LookupStatus::TempFail) {
          l->answer(AuthStatus::TempFail, DenyReason::None, found.detail);
        } else if (found.status == LookupStatus::NotFound) {
          l->answer(AuthStatus::Denied, DenyReason::UnknownUser, "no account entry for the login");
        } else {
          l->account = std::move(found.account);
          finish_login(l);
        }
      });
    });
    return;
  }

  find_account(l->address, [this, l, on_password](LookupResult found) {
    if (found.status == LookupStatus::TempFail) {
      l->answer(AuthStatus::TempFail, DenyReason::None, found.detail);
      return;
    }
    if (found.status == LookupStatus::NotFound) {
      l->answer(AuthStatus::Denied, DenyReason::UnknownUser, "unknown user");
      return;
    }
    l->account = std::move(found.account);
    auto check = [on_password](bool via_compare) {
      return [on_password, via_compare](LdapReply r) { on_password(std::move(r), via_compare); };
    };
    if (config_.auth_mode == AuthMode::Compare) {
      compare_password(l->account.dn, l->password.clone(), check(true));
    } else {
      bind_as(l->account.dn, l->password.clone(), check(false));
    }
  });
}

void LdapDirectory::finish_login(std::shared_ptr<Login> l) {
  // The password was right; only now say whether the account may log in, so
  // a guesser never learns an account's state.
  if (l->account.state == AccountState::Disabled) {
    l->answer(AuthStatus::Denied, DenyReason::Disabled, "account disabled");
    return;
  }
  if (l->account.state == AccountState::Moving) {
    l->answer(AuthStatus::TempFail, DenyReason::None, "account is being moved between nodes");
    return;
  }
  if (config_.required_group.empty()) {
    l->answer(AuthStatus::Ok, DenyReason::None, "");
    return;
  }
  groups_->check(l->account.dn, config_.required_group, [l](MembershipResult m) {
    switch (m.status) {
      case MembershipStatus::Member:
        l->answer(AuthStatus::Ok, DenyReason::None, m.detail);
        break;
      case MembershipStatus::NotMember:
        l->answer(AuthStatus::Denied, DenyReason::NotInGroup,
                  "not in the required group: " + m.detail);
        break;
      case MembershipStatus::TempFail:
        l->answer(AuthStatus::TempFail, DenyReason::None, m.detail);
        break;
    }
  });
}

void LdapDirectory::is_member(std::string_view dn, std::string_view group_dn, core::Executor& reply,
                              MembershipCallback done) {
  groups_->check(dn, group_dn, [&reply, done = std::move(done)](MembershipResult m) mutable {
    post_result(reply, std::move(done), std::move(m));
  });
}

}  // namespace postern::mapping
