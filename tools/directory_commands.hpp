// posternctl's directory commands: lookup and auth.
#pragma once

#include <iosfwd>
#include <string>

#include "mapping/mapping_config.hpp"

namespace postern::tools {

// `lookup ADDRESS` prints the node and the account's attributes; `lookup -`
// reads one address a line from `in` and prints one line each, keeping the
// directory (and its cache) for the whole run:
//   found login="alice" node="node1" address="alice@example.com" [stale=1]
//   notfound login="zed" detail="no entry matches"
//   tempfail login="bob" detail="directory: directory unreachable"
// Returns an exit code (the worst of the run for `-`).
int run_lookup(const mapping::DirectoryConfig& config, const std::string& login, std::istream& in,
               std::ostream& out);

// `auth ADDRESS`: the password is the first line of `in`. Returns an exit code
// and says why a login was denied.
int run_auth(const mapping::DirectoryConfig& config, const std::string& login, std::istream& in,
             std::ostream& out);

}  // namespace postern::tools
