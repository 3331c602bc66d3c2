// The configuration file posternctl is given: either a process's file with the
// shared sections only (directory, log: conf/mapping-ldap.json), or a whole
// node's file (conf/node1.json) or proxy's file (conf/proxy.json), read with
// that program's own loader so that check-config judges it exactly as
// `postern-node -t` / `postern-proxy -t` do.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "backend/node/node_config.hpp"
#include "core/log_config.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::tools {

struct ProcessConfig {
  std::optional<mapping::DirectoryConfig> directory;
  core::LogConfig log;
  // Set for a node's file (one with a "node" section).
  std::optional<node::NodeConfig> node;
};

// Throws core::ConfigError naming the file, the key and what was expected.
// `node_protocols`: the protocols a node's listeners may name (postern-node's).
ProcessConfig load_process_config(const std::string& file,
                                  const std::set<std::string>& node_protocols);

}  // namespace postern::tools
