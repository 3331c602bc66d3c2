// The LDAP source of the mapping layer (DESIGN.md section 4).
//
// Two pools of connections: one bound as the service account for searches
// (pipelined), one for binds as users (one bind at a time per connection).
// Nothing here runs on a caller's loop: requests go to the pools' threads and
// the answers are posted back to `reply`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mapping/address.hpp"
#include "mapping/directory.hpp"
#include "mapping/ldap_group_check.hpp"
#include "mapping/ldap_pool.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::mapping {

class LdapDirectory final : public Directory {
 public:
  // Throws std::invalid_argument on a filter or DN template that
  // parse_directory_config() would have refused. Connects lazily.
  LdapDirectory(LdapConfig config, std::string primary_domain);
  ~LdapDirectory() override;

  void lookup(std::string_view login, core::Executor& reply, LookupCallback done) override;
  void authenticate(std::string_view login, core::Secret password, core::Executor& reply,
                    AuthCallback done) override;
  void is_member(std::string_view dn, std::string_view group_dn, core::Executor& reply,
                 MembershipCallback done) override;

 private:
  struct Login;
  // Finds the account entry; `done` runs on a pool thread.
  void find_account(const Address& address, std::function<void(LookupResult)> done);
  Account account_from_entry(const LdapEntry& entry, const Address& asked) const;
  void bind_as(std::string dn, core::Secret password, std::function<void(LdapReply)> done);
  void compare_password(std::string dn, core::Secret password, std::function<void(LdapReply)> done);
  // The steps after the password was found right: state, then group.
  void finish_login(std::shared_ptr<Login> login);

  const LdapConfig config_;
  const std::string primary_domain_;
  std::vector<std::string> account_attributes_;
  // Declared last: destroyed (threads joined) first, while the above still live.
  std::unique_ptr<LdapPool> search_pool_;
  std::unique_ptr<LdapPool> auth_pool_;
  std::unique_ptr<LdapGroupCheck> groups_;
};

}  // namespace postern::mapping
