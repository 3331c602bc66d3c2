// node.store_linger / node.store_linger_max (backend/store/store.hpp, LINGER).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "backend/node/node_config.hpp"

using postern::core::ConfigError;
using postern::node::load_node_config;
using postern::node::NodeConfig;

namespace {

struct LingerConfig {
  std::filesystem::path path;
  explicit LingerConfig(const std::string& node_extra) {
    path = std::filesystem::temp_directory_path() /
           ("postern-linger-" + std::to_string(getpid()) + ".json");
    std::ofstream(path) << R"({"node": {"name": "node1", "store": "/tmp/s")" << node_extra
                        << R"(}, "listeners": [{"name": "imap", "address": "127.0.0.1:1"}],)"
                        << R"( "directory": {"source": "file", "file": {"path": "/dev/null"}}})";
  }
  ~LingerConfig() { std::filesystem::remove(path); }
  NodeConfig load() const { return load_node_config(path.string(), {"imap"}); }
};

std::string linger_error_of(const std::string& node_extra) {
  try {
    (void)LingerConfig(node_extra).load();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("node config: store_linger and store_linger_max") {
  auto defaults = LingerConfig("").load();
  CHECK(defaults.store_linger == std::chrono::seconds(30));
  CHECK(defaults.store_linger_max == 512);
  auto set = LingerConfig(R"(, "store_linger": 2.5, "store_linger_max": 40)").load();
  CHECK(set.store_linger == std::chrono::milliseconds(2500));
  CHECK(set.store_linger_max == 40);
  CHECK(LingerConfig(R"(, "store_linger": 0)").load().store_linger.count() == 0);

  CHECK(linger_error_of(R"(, "store_linger": -1)").find("node.store_linger") != std::string::npos);
  CHECK(linger_error_of(R"(, "store_linger": "long")").find("node.store_linger") !=
        std::string::npos);
  CHECK(linger_error_of(R"(, "store_linger": 7200)").find("node.store_linger") !=
        std::string::npos);
  CHECK(linger_error_of(R"(, "store_linger_max": 0)").find("node.store_linger_max") !=
        std::string::npos);
  CHECK(linger_error_of(R"(, "store_linger_max": 1.5)").find("node.store_linger_max") !=
        std::string::npos);
}
