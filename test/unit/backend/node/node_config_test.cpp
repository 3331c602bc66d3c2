#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "backend/node/node_config.hpp"

using postern::core::ConfigError;
using postern::node::load_node_config;

namespace {

struct TempConfig {
  std::filesystem::path path;
  explicit TempConfig(const std::string& text) {
    path = std::filesystem::temp_directory_path() /
           ("postern-node-" + std::to_string(getpid()) + ".json");
    std::ofstream(path) << text;
  }
  ~TempConfig() { std::filesystem::remove(path); }
};

const std::set<std::string> kProtocols = {"imap", "pop3"};

std::string error_of(const std::string& text) {
  TempConfig f(text);
  try {
    (void)load_node_config(f.path.string(), kProtocols);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kDirectory = R"("directory": {"source": "file", "file": {"path": "/dev/null"}})";

}  // namespace

TEST_CASE("node config: a valid file") {
  TempConfig f(std::string(R"({
    // node1
    "node": {"name": "node1", "threads": 2, "store": "store", "trusted_proxies": ["127.0.0.0/8"]},
    "listeners": [{"name": "imap", "address": "127.0.0.1:11143"},
                  {"name": "pop3", "address": "[::1]:11110", "flow": {"max_per_ip": 5}}],
    "admin": {"address": "127.0.0.1:11090"},
  )") + kDirectory +
               "}");
  auto c = load_node_config(f.path.string(), kProtocols);
  CHECK(c.name == "node1");
  CHECK(c.threads == 2);
  CHECK(c.store_path == (f.path.parent_path() / "store").string());
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0]->protocol == "imap");
  CHECK(c.listeners[1]->address.to_string() == "[::1]:11110");
  CHECK(c.admin->port == 11090);
  CHECK(c.trusted_proxies.contains(*postern::core::IpAddress::parse("127.0.0.2")));
}

TEST_CASE("node config: errors name the key and what was expected") {
  auto base = [](const std::string& node, const std::string& listeners) {
    return "{\"node\": " + node + ", \"listeners\": " + listeners + ", " + kDirectory + "}";
  };
  std::string ok_node = R"({"name": "node1", "store": "/tmp/s"})";
  std::string ok_listeners = R"([{"name": "imap", "address": "127.0.0.1:1"}])";
  CHECK(error_of(base(R"({"store": "/tmp/s"})", ok_listeners)).find("node.name: missing") !=
        std::string::npos);
  CHECK(error_of(base(ok_node, R"([{"name": "smtp", "address": "127.0.0.1:1"}])"))
            .find("listeners[0].protocol: expected one of imap, pop3, found \"smtp\"") !=
        std::string::npos);
  CHECK(error_of(base(ok_node, R"([{"name": "imap", "address": "localhost"}])"))
            .find("listeners[0].address: expected host:port") != std::string::npos);
  CHECK(
      error_of(base(ok_node, R"([{"name": "imap", "address": "127.0.0.1:1", "tls": "implicit"}])"))
          .find("listeners[0].tls: needs the top-level \"tls\" object") != std::string::npos);
  CHECK(error_of(base(R"({"name": "n", "store": "/s", "trusted_proxies": ["10.0.0.0/40"]})",
                      ok_listeners))
            .find("node.trusted_proxies: expected networks") != std::string::npos);
  CHECK(error_of(base(ok_node, "[]")).find("listeners: expected at least one listener") !=
        std::string::npos);
  // Each loop's sockets join one SO_REUSEPORT group: two listeners on one
  // address would split its connections between them.
  CHECK(error_of(base(ok_node, R"([{"name": "imap", "address": "127.0.0.1:1143"},
                                   {"name": "imaps", "protocol": "imap", "address": "127.0.0.1:1143"}])"))
            .find("listeners[1].address: expected an address no other listener uses; "
                  "listeners[0] (\"imap\") listens on 127.0.0.1:1143 too") != std::string::npos);
  CHECK(error_of(base(ok_node, R"([{"name": "imap", "address": "*:1143"},
                                   {"name": "pop3", "address": "[::]:1143"}])"))
            .find("listeners[1].address: expected an address no other listener uses") !=
        std::string::npos);
  // A wildcard and an address it covers, on one port.
  CHECK(error_of(base(ok_node, R"([{"name": "imap", "address": "0.0.0.0:1143"},
                                   {"name": "pop3", "address": "127.0.0.1:1143"}])"))
            .find("listeners[1].address: expected an address no other listener uses") !=
        std::string::npos);
  CHECK(error_of(base(ok_node, R"([{"name": "imap", "address": "0.0.0.0:1143"},
                                   {"name": "pop3", "address": "[::]:1143"}])"))
            .find("listeners[1].address: expected an address no other listener uses") !=
        std::string::npos);
  CHECK(error_of(base(ok_node, R"([{"name": "imap", "address": "127.0.0.1:1143"},
                                   {"name": "pop3", "address": "127.0.0.2:1143"},
                                   {"name": "imaps", "protocol": "imap", "address": "0.0.0.0:1144"},
                                   {"name": "pop3s", "protocol": "pop3", "address": "[::1]:1144"}])"))
            .empty());
  CHECK(error_of(base(ok_node, R"([{"name": "imap", "address": "127.0.0.1:1143"},
                                   {"name": "pop3", "address": "127.0.0.2:1143"},
                                   {"name": "imaps", "protocol": "imap", "address": "127.0.0.1:0"},
                                   {"name": "pop3s", "protocol": "pop3", "address": "127.0.0.1:0"}])"))
            .empty());
  CHECK(
      error_of(
          R"({"node": {"name": "n", "store": "/s"}, "listeners": [{"name": "imap", "address": "127.0.0.1:1"}]})")
          .find("directory: missing") != std::string::npos);
}

TEST_CASE("node config: master users") {
  auto with_node = [](const std::string& node_extra) {
    return R"({"node": {"name": "node1", "store": "/tmp/s", "trusted_proxies": ["127.0.0.0/8"])" +
           node_extra + R"(}, "listeners": [{"name": "imap", "address": "127.0.0.1:1"}], )" +
           kDirectory + "}";
  };
  const std::string hash =
      "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxq"
      "OmSuNp2xS0ktL3nh/";
  {
    TempConfig f(with_node(R"(, "master_users": [
        {"user": "proxy-master", "password_hash": ")" +
                           hash + R"("},
        {"user": "dev-master", "password": "clear"}])"));
    auto c = load_node_config(f.path.string(), kProtocols);
    REQUIRE(c.master_users.size() == 2);
    CHECK(c.master_users[0].user == "proxy-master");
    CHECK(c.master_users[0].password_hash == hash);
    CHECK(c.master_users[0].password.empty());
    CHECK(c.master_users[1].user == "dev-master");
    CHECK(c.master_users[1].password == "clear");
    CHECK(c.master_users[1].password_hash.empty());
  }
  {
    TempConfig f(with_node(""));
    CHECK(load_node_config(f.path.string(), kProtocols).master_users.empty());
  }
  auto error_has = [](const std::string& text, const std::string& wanted) {
    const auto e = error_of(text);
    INFO("error: ", e);
    return e.find(wanted) != std::string::npos;
  };
  CHECK(error_has(with_node(R"(, "master_users": [{"password": "x"}])"),
                  "node.master_users[0].user: missing"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "m"}])"),
                  "node.master_users[0].password_hash: expected either"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "m", "password": "x",
                                                  "password_hash": ")" +
                            hash + R"("}])"),
                  "node.master_users[0].password_hash: expected either"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "m", "password_hash": "secret"}])"),
                  "node.master_users[0].password_hash: expected a SHA-512"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "m", "password_hash": "$1$a$b"}])"),
                  "node.master_users[0].password_hash: expected a SHA-512"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "m", "password": ""}])"),
                  "node.master_users[0].password: expected a non-empty password"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "a b", "password": "x"}])"),
                  "node.master_users[0].user: expected a user name"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "m", "password": "x"},
                                                  {"user": "m", "password": "y"}])"),
                  "node.master_users[1].user: \"m\" is listed twice"));
  CHECK(error_has(with_node(R"(, "master_users": [{"user": "m", "password": "x", "hash": "y"}])"),
                  "node.master_users[0].hash: unknown key"));
  CHECK(error_has(R"({"node": {"name": "n", "store": "/s",
                               "master_users": [{"user": "m", "password": "x"}]},
                      "listeners": [{"name": "imap", "address": "127.0.0.1:1"}], )" +
                      std::string(kDirectory) + "}",
                  "node.master_users: needs trusted_proxies"));
}
