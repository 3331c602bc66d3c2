#include "core/log_config.hpp"

namespace postern::core {

LogConfig LogConfig::from_config(const ConfigNode& n) {
  n.allow_only({"level", "file"});
  LogConfig c;
  parse_log_level(n.choice_or("level", {"debug", "info", "warn", "error"}, "info"), c.level);
  c.file = n.path_or("file", "");
  return c;
}

void LogConfig::apply(const std::string& config_file) const {
  set_log_level(level);
  if (!set_log_file(file)) {
    throw ConfigError(config_file, "log.file", "expected a file that can be opened for appending");
  }
}

}  // namespace postern::core
