#include "mapping/blocking.hpp"

#include <optional>

namespace postern::mapping {

namespace {

// Starts an asynchronous call and runs the loop until its callback stops it.
template <class Result, class Start>
Result wait_for(core::EventLoop& loop, Start start) {
  std::optional<Result> result;
  start([&](Result r) {
    result = std::move(r);
    loop.stop();
  });
  while (!result) loop.run();
  return std::move(*result);
}

}  // namespace

LookupResult lookup_blocking(Directory& directory, core::EventLoop& loop, std::string_view login) {
  return wait_for<LookupResult>(loop, [&](auto done) { directory.lookup(login, loop, done); });
}

AuthResult authenticate_blocking(Directory& directory, core::EventLoop& loop,
                                 std::string_view login, core::Secret password) {
  return wait_for<AuthResult>(
      loop, [&](auto done) { directory.authenticate(login, std::move(password), loop, done); });
}

MembershipResult is_member_blocking(Directory& directory, core::EventLoop& loop,
                                    std::string_view dn, std::string_view group_dn) {
  return wait_for<MembershipResult>(
      loop, [&](auto done) { directory.is_member(dn, group_dn, loop, done); });
}

}  // namespace postern::mapping
