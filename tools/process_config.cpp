#include "tools/process_config.hpp"

#include "core/config.hpp"

namespace postern::tools {

ProcessConfig load_process_config(const std::string& file) {
  auto root = core::load_config_file(file);
  root.allow_only({"directory", "log"});
  ProcessConfig c;
  if (auto d = root.optional_child("directory")) c.directory = mapping::parse_directory_config(*d);
  if (auto log = root.optional_child("log")) {
    log->allow_only({"level", "file"});
    auto level = log->choice_or("level", {"debug", "info", "warn", "error"}, "info");
    core::parse_log_level(level, c.log_level);
    c.log_file = log->path_or("file", "");
  }
  return c;
}

void apply_log_settings(const ProcessConfig& config, const std::string& file) {
  core::set_log_level(config.log_level);
  if (!core::set_log_file(config.log_file)) {
    throw core::ConfigError(file, "log.file", "expected a file that can be opened for appending");
  }
}

}  // namespace postern::tools
