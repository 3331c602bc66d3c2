// The parts of a Postern configuration file that every process shares: the
// directory section and logging. Each process adds its own sections; this
// reads the shared ones and checks that no unknown key hides a typo.
#pragma once

#include <optional>
#include <string>

#include "core/log.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::tools {

struct ProcessConfig {
  std::optional<mapping::DirectoryConfig> directory;
  core::LogLevel log_level = core::LogLevel::Info;
  std::string log_file;  // empty: stderr
};

// Throws core::ConfigError naming the file, the key and what was expected.
ProcessConfig load_process_config(const std::string& file);
// Sends log lines where the configuration says. Throws core::ConfigError.
void apply_log_settings(const ProcessConfig& config, const std::string& file);

}  // namespace postern::tools
