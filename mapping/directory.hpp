// The mapping layer's one interface (DESIGN.md section 4): where does an account
// live, is this login valid, is this entry a member of that group.
//
// Sources (LdapDirectory, FileDirectory) and the caching decorator
// (CachingDirectory) all implement it, so callers never know which they hold.
//
// Threading contract, for every method:
//  - Callable from any thread.
//  - `done` runs exactly once, on `reply` (the caller's loop), and never inline:
//    not before the call has returned, so a caller may hold locks or be mid-way
//    through its own state change when it calls.
//  - A caller that may be destroyed before the answer arrives captures a weak
//    handle (std::weak_ptr or a generation id), never `this`.
//  - Destroying a Directory drops the callbacks of calls still pending; destroy
//    it after the sessions that use it and before their loops.
// Temporary failures (directory unreachable, timeout) are never reported as
// "not found" or "denied".
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/event_loop.hpp"
#include "core/secret.hpp"
#include "mapping/account.hpp"

namespace postern::mapping {

enum class LookupStatus { Found, NotFound, TempFail };

struct LookupResult {
  LookupStatus status = LookupStatus::TempFail;
  Account account;     // set when Found
  std::string detail;  // why, for logs and operators; never shown to a mail client
  bool stale = false;  // served from the cache past its TTL because the source failed
};

enum class AuthStatus { Ok, Denied, TempFail };

// Why a login was denied. Operators see it (posternctl, logs); clients only see
// "authentication failed", so a guesser learns nothing about which users exist.
enum class DenyReason { None, BadLogin, UnknownUser, WrongPassword, NotInGroup, Disabled };
std::string_view deny_reason_name(DenyReason r);

struct AuthResult {
  AuthStatus status = AuthStatus::TempFail;
  DenyReason reason = DenyReason::None;
  Account account;  // set when Ok (and, when known, when Denied)
  std::string detail;
};

enum class MembershipStatus { Member, NotMember, TempFail };

struct MembershipResult {
  MembershipStatus status = MembershipStatus::TempFail;
  std::string detail;
};

using LookupCallback = std::function<void(LookupResult)>;
using AuthCallback = std::function<void(AuthResult)>;
using MembershipCallback = std::function<void(MembershipResult)>;

class Directory {
 public:
  virtual ~Directory() = default;

  // Finds the account for a login or address (aliases included where the source
  // knows them). A login without '@' means login@primary_domain.
  virtual void lookup(std::string_view login, core::Executor& reply, LookupCallback done) = 0;

  // Checks a password, the account state and (where configured) membership of
  // the required group. `password` is wiped when the source is done with it.
  virtual void authenticate(std::string_view login, core::Secret password, core::Executor& reply,
                            AuthCallback done) = 0;

  // Is the entry `dn` a member of `group_dn`, directly or through nested groups?
  virtual void is_member(std::string_view dn, std::string_view group_dn, core::Executor& reply,
                         MembershipCallback done) = 0;

  // Forgets whatever is cached for this login (no-op for sources without a cache).
  virtual void invalidate(std::string_view /*login*/) {}
};

}  // namespace postern::mapping
