// Builds the Directory a configuration asks for: the source (LDAP or file),
// behind the routing cache unless the cache is disabled.
#pragma once

#include <memory>

#include "mapping/directory.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::mapping {

// Throws core::ConfigError when the source cannot start (unreadable map file).
std::unique_ptr<Directory> make_directory(const DirectoryConfig& config);

}  // namespace postern::mapping
