#include "tools/process_config.hpp"

#include "core/config.hpp"
#include "core/log_config.hpp"
#include "proxy/proxy_config.hpp"

namespace postern::tools {

ProcessConfig load_process_config(const std::string& file,
                                  const std::set<std::string>& node_protocols) {
  auto root = core::load_config_file(file);
  ProcessConfig c;
  if (root.has("node")) {
    c.node = node::load_node_config(file, node_protocols);
    c.directory = c.node->directory;
    c.log = c.node->log;
    return c;
  }
  if (root.has("proxy")) {
    // A proxy's file, judged as `postern-proxy -t` does; lookup and auth
    // then ask the directory exactly as that proxy would.
    auto proxy = proxy::load_proxy_config(file);
    c.directory = proxy.directory;
    c.log = proxy.log;
    return c;
  }
  root.allow_only({"directory", "log"});
  if (auto d = root.optional_child("directory")) c.directory = mapping::parse_directory_config(*d);
  if (auto log = root.optional_child("log")) c.log = core::LogConfig::from_config(*log);
  return c;
}

}  // namespace postern::tools
