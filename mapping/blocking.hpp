// Synchronous wrappers for command-line tools and tests: each call runs `loop`
// until the answer arrives. Never use them on a loop that serves sessions.
#pragma once

#include <string_view>

#include "core/event_loop.hpp"
#include "mapping/directory.hpp"

namespace postern::mapping {

LookupResult lookup_blocking(Directory& directory, core::EventLoop& loop, std::string_view login);
AuthResult authenticate_blocking(Directory& directory, core::EventLoop& loop,
                                 std::string_view login, core::Secret password);
MembershipResult is_member_blocking(Directory& directory, core::EventLoop& loop,
                                    std::string_view dn, std::string_view group_dn);

}  // namespace postern::mapping
