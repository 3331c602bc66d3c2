// The "log" section every Postern process shares:
//   "log": { "level": "info", "file": "/var/log/postern/node1.log" }
#pragma once

#include <string>

#include "core/config.hpp"
#include "core/log.hpp"

namespace postern::core {

struct LogConfig {
  LogLevel level = LogLevel::Info;
  std::string file;  // empty: stderr

  static LogConfig from_config(const ConfigNode& node);
  // Sends log lines where this says. Throws ConfigError(file, "log.file").
  void apply(const std::string& config_file) const;
};

}  // namespace postern::core
