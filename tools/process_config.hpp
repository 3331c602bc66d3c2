// The parts of a Postern configuration file that every process shares: the
// directory section and logging. Each process adds its own sections; this
// reads the shared ones and checks that no unknown key hides a typo.
#pragma once

#include <optional>
#include <string>

#include "core/log_config.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::tools {

struct ProcessConfig {
  std::optional<mapping::DirectoryConfig> directory;
  core::LogConfig log;
};

// Throws core::ConfigError naming the file, the key and what was expected.
ProcessConfig load_process_config(const std::string& file);

}  // namespace postern::tools
