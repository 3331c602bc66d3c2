#include "proxy/proxy_config.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using postern::core::ConfigError;
using postern::proxy::load_proxy_config;
using postern::proxy::NodeEndpoints;
using namespace std::chrono_literals;

namespace {

std::filesystem::path temp_path() {
  return std::filesystem::temp_directory_path() /
         ("postern-proxy-" + std::to_string(getpid()) + ".json");
}

struct TempConfig {
  std::filesystem::path path = temp_path();
  explicit TempConfig(const std::string& text) { std::ofstream(path) << text; }
  ~TempConfig() { std::filesystem::remove(path); }
};

std::string error_of(const std::string& text) {
  TempConfig f(text);
  try {
    (void)load_proxy_config(f.path.string());
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kDirectory =
    R"("directory": {"source": "file", "primary_domain": "Example.COM",
                     "file": {"path": "/dev/null"}})";
const char* kListeners = R"("listeners": [{"name": "imap", "address": "127.0.0.1:2143"}])";
const char* kNodes = R"("nodes": {"node1": {"imap": "127.0.0.1:11143"}})";

// A configuration with the three required sections and `extra` spliced in.
std::string config_with(const std::string& extra, const char* listeners = kListeners,
                        const char* nodes = kNodes) {
  std::string text = "{" + std::string(kDirectory) + ", " + listeners + ", " + nodes;
  if (!extra.empty()) text += ", " + extra;
  return text + "}";
}

bool error_has(const std::string& text, const std::string& wanted) {
  const auto e = error_of(text);
  INFO("error: ", e);
  return e.find(wanted) != std::string::npos;
}

}  // namespace

TEST_CASE("proxy config: a valid file") {
  TempConfig f(R"({
    // the edge
    "proxy": {"name": "proxy1", "threads": 2, "verify_credentials": false,
              "connect_timeout": 1.5, "login_timeout": 30, "proxy_ttl": 3, "buffer": 32768},
    "throttle": {"base_delay": 0.25, "max_delay": 4, "forget_after": 60, "max_keys": 1000},
    "health": {"probe_interval": 0.5, "probe_timeout": 0.2},
    "listeners": [{"name": "imap", "address": "127.0.0.1:2143"},
                  {"name": "mx", "protocol": "smtp", "address": "127.0.0.1:2525"},
                  {"name": "submission", "address": "[::1]:2587"}],
    "admin": {"address": "127.0.0.1:9100"},
    "directory": {"source": "file", "primary_domain": "Example.COM",
                  "file": {"path": "/dev/null"}},
    "smtp": {"hostname": "mx.example.com", "local_domains": ["Example.com", "example.org"],
             "max_message_size": 1048576},
    "nodes": {
      "node1": {"imap": "127.0.0.1:11143", "pop3": "127.0.0.1:11110", "smtp": "127.0.0.1:11025",
                "tls": {"mode": "implicit", "verify": false, "server_name": "node1.example.com"}},
      "node2": {"imap": "[::1]:12143"}
    }
  })");
  auto c = load_proxy_config(f.path.string());
  CHECK(c.name == "proxy1");
  CHECK(c.threads == 2);
  CHECK_FALSE(c.verify_credentials);
  CHECK(c.connect_timeout == 1500ms);
  CHECK(c.login_timeout == 30s);
  CHECK(c.proxy_ttl == 3);
  CHECK(c.buffer == 32768);
  CHECK(c.throttle.base_delay == 250ms);
  CHECK(c.throttle.max_delay == 4s);
  CHECK(c.throttle.forget_after == 60s);
  CHECK(c.throttle.max_keys == 1000);
  CHECK(c.health.probe_interval == 500ms);
  CHECK(c.health.probe_timeout == 200ms);
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.listeners[1]->protocol == "smtp");
  CHECK(c.listeners[2]->protocol == "submission");
  CHECK(c.admin->port == 9100);
  CHECK(c.smtp.hostname == "mx.example.com");
  CHECK(c.smtp.primary_domain == "example.com");
  CHECK(c.smtp.local_domains == std::set<std::string>{"example.com", "example.org"});
  CHECK(c.smtp.max_message_size == 1048576);
  REQUIRE(c.nodes.size() == 2);
  const auto& n1 = c.nodes.at("node1");
  CHECK(n1.name == "node1");
  CHECK(n1.services.size() == 3);
  CHECK(n1.services.at("pop3").to_string() == "127.0.0.1:11110");
  CHECK(n1.tls_mode == NodeEndpoints::TlsMode::Implicit);
  REQUIRE(n1.tls != nullptr);
  CHECK_FALSE(n1.tls->is_server());
  CHECK(n1.server_name == "node1.example.com");
  const auto& n2 = c.nodes.at("node2");
  CHECK(n2.services.at("imap").port == 12143);
  CHECK(n2.tls_mode == NodeEndpoints::TlsMode::None);
  CHECK(n2.tls == nullptr);
}

TEST_CASE("proxy config: defaults") {
  TempConfig f(config_with(""));
  auto c = load_proxy_config(f.path.string());
  CHECK(c.name == "proxy");
  CHECK(c.threads >= 1);
  CHECK(c.verify_credentials);
  CHECK(c.connect_timeout == 5s);
  CHECK(c.throttle.base_delay == 500ms);
  CHECK(c.health.probe_interval == 5s);
  CHECK_FALSE(c.admin.has_value());
  CHECK(c.tls == nullptr);
  CHECK_FALSE(c.smtp.hostname.empty());
  // Without "smtp", the directory's primary domain is the one local domain.
  CHECK(c.smtp.local_domains == std::set<std::string>{"example.com"});
  CHECK(c.smtp.max_message_size == 50ull * 1024 * 1024);
  CHECK(c.node_pool_max_idle == 16);
  CHECK(c.node_pool_idle_timeout == 10s);
  CHECK(c.splice);
  CHECK(c.splice_pipe == 1 << 20);
}

TEST_CASE("proxy config: splicing and its pipe") {
  TempConfig f(config_with(R"("proxy": {"splice": false, "splice_pipe": 65536})"));
  auto c = load_proxy_config(f.path.string());
  CHECK_FALSE(c.splice);
  CHECK(c.splice_pipe == 65536);
  CHECK(error_has(config_with(R"("proxy": {"splice_pipe": 100})"), "proxy.splice_pipe"));
  CHECK(error_has(config_with(R"("proxy": {"splice_pipe": 33554432})"), "proxy.splice_pipe"));
  CHECK(error_has(config_with(R"("proxy": {"splice": "yes"})"), "proxy.splice"));
}

TEST_CASE("proxy config: the node pool") {
  TempConfig f(config_with(R"("proxy": {"node_pool": {"max_idle": 0, "idle_timeout": 2.5}})"));
  auto c = load_proxy_config(f.path.string());
  CHECK(c.node_pool_max_idle == 0);
  CHECK(c.node_pool_idle_timeout == 2500ms);
  CHECK(error_has(config_with(R"("proxy": {"node_pool": {"max_idle": -1}})"),
                  "proxy.node_pool.max_idle"));
  CHECK(error_has(config_with(R"("proxy": {"node_pool": {"idle_timeout": 0}})"),
                  "proxy.node_pool.idle_timeout"));
  CHECK(error_has(config_with(R"("proxy": {"node_pool": {"size": 3}})"),
                  "proxy.node_pool.size: unknown key"));
}

TEST_CASE("proxy config: errors name the file, the key and what was expected") {
  CHECK(error_of(config_with("")).empty());
  CHECK(error_has(config_with(R"("proxy": {"nmae": "p"})"), "proxy.nmae: unknown key"));
  CHECK(error_has(config_with(R"("proxy": {"connect_timeout": -1})"), "proxy.connect_timeout"));
  CHECK(error_has(config_with(R"("throttle": {"base_delay": 5, "max_delay": 1})"),
                  "throttle.max_delay: expected at least base_delay"));
  CHECK(error_has(config_with(R"("throttle": {"max_failures_per_ip": 3})"),
                  "throttle.max_failures_per_ip: unknown key"));
  CHECK(error_has(config_with("", R"("listeners": [{"name": "gopher", "address": "127.0.0.1:1"}])"),
                  "listeners[0].protocol: expected one of http, imap, pop3, smtp, submission, "
                  "found \"gopher\""));
  CHECK(error_has(config_with("", R"("listeners": [{"name": "imap", "address": "127.0.0.1:1",
                                                    "tls": "starttls"}])"),
                  "listeners[0].tls: needs the top-level \"tls\" object"));
  CHECK(error_has(config_with("", R"("listeners": [])"),
                  "listeners: expected at least one listener"));
  CHECK(error_has(config_with("", R"("listeners": [{"name": "imap", "address": "127.0.0.1:2143"},
                                                  {"name": "pop3", "address": "127.0.0.1:2143"}])"),
                  "listeners[1].address: expected an address no other listener uses; "
                  "listeners[0] (\"imap\") listens on 127.0.0.1:2143 too"));
  CHECK(error_has(config_with("", kListeners, R"("nodes": {})"),
                  "nodes: expected at least one node"));
  CHECK(error_has(config_with("", kListeners, R"("nodes": {"node1": {"imap": "node1:143"}})"),
                  "nodes.node1.imap: expected the node's IP address and port"));
  CHECK(error_has(config_with("", kListeners, R"("nodes": {"node1": {"imap": "127.0.0.1:0"}})"),
                  "nodes.node1.imap: expected"));
  CHECK(error_has(config_with("", kListeners, R"("nodes": {"node1": {"lmtp": "127.0.0.1:24"}})"),
                  "nodes.node1.lmtp: unknown key"));
  CHECK(error_has(config_with("", kListeners, R"("nodes": {"node1": {"http": "127.0.0.1:80",
                                                  "tls": {"mode": "tls"}}})"),
                  "nodes.node1.tls.mode: expected one of"));
  CHECK(error_has(config_with("", kListeners, R"("nodes": {"node1": {"imap": "127.0.0.1:1",
                                                  "tls": {"ca": "/nonexistent/ca.crt"}}})"),
                  "nodes.node1.tls.ca: cannot load CA"));
  CHECK(error_has(config_with(R"("smtp": {"local_domains": ["a@b"]})"),
                  "smtp.local_domains: expected domain names"));
  CHECK(error_has(config_with(R"("admin": {"address": "nowhere"})"),
                  "admin.address: expected host:port"));
  CHECK(error_has("{" + std::string(kListeners) + ", " + kNodes + "}", ": directory: missing"));
  // Every message starts with the file's name.
  const auto e = error_of(config_with(R"("health": {"probe_interval": "soon"})"));
  CHECK(e.find("health.probe_interval") != std::string::npos);
  CHECK(e.rfind(temp_path().string() + ": ", 0) == 0);
}

TEST_CASE("proxy config: the master login") {
  {
    TempConfig f(config_with(R"("proxy": {"master_login": {"user": "proxy-master",
                                                           "password": "s3cret"}})"));
    auto c = load_proxy_config(f.path.string());
    CHECK(c.master_user == "proxy-master");
    CHECK(c.master_password.reveal() == "s3cret");
  }
  {
    // Without it: the client's own login is replayed.
    TempConfig f(config_with(""));
    auto c = load_proxy_config(f.path.string());
    CHECK(c.master_user.empty());
    CHECK(c.master_password.empty());
  }
  {
    // From a file, read at load; the trailing newline is not part of the password.
    const auto secret = std::filesystem::temp_directory_path() /
                        ("postern-master-" + std::to_string(getpid()) + ".secret");
    std::ofstream(secret) << "from file\n";
    TempConfig f(config_with(R"("proxy": {"master_login": {"user": "m", "password_file": ")" +
                             secret.string() + "\"}}"));
    auto c = load_proxy_config(f.path.string());
    std::filesystem::remove(secret);
    CHECK(c.master_user == "m");
    CHECK(c.master_password.reveal() == "from file");
  }
  // Both or neither; a clear error naming the key otherwise.
  CHECK(error_has(config_with(R"("proxy": {"master_login": {"password": "x"}})"),
                  "proxy.master_login.user: missing"));
  CHECK(error_has(config_with(R"("proxy": {"master_login": {"user": "m"}})"),
                  "proxy.master_login.password: expected either"));
  CHECK(error_has(config_with(R"("proxy": {"master_login": {"user": "m", "password": "x",
                                                           "password_file": "/etc/hostname"}})"),
                  "proxy.master_login.password: expected either"));
  CHECK(error_has(config_with(R"("proxy": {"master_login": {"user": "m", "password": ""}})"),
                  "proxy.master_login.password: expected a non-empty password"));
  CHECK(error_has(config_with(R"("proxy": {"master_login": {"user": "a b", "password": "x"}})"),
                  "proxy.master_login.user: expected a user name"));
  CHECK(error_has(config_with(R"("proxy": {"master_login": {"user": "m",
                                            "password_file": "/nonexistent/master.secret"}})"),
                  "proxy.master_login.password_file: cannot read"));
  CHECK(error_has(config_with(R"("proxy": {"master_login": {"user": "m", "pass": "x"}})"),
                  "proxy.master_login.pass: unknown key"));
  // Nobody would check the user's password at all.
  CHECK(error_has(config_with(R"("proxy": {"verify_credentials": false,
                                           "master_login": {"user": "m", "password": "x"}})"),
                  "proxy.master_login: needs verify_credentials"));
}

TEST_CASE("proxy config: the http section") {
  const char* http_listener = R"("listeners": [{"name": "http", "address": "127.0.0.1:1"}])";
  // Required with an http listener, and names the key.
  CHECK(error_has(config_with("", http_listener), "http: expected an \"http\" section"));
  CHECK(error_has(config_with(R"("http": {})", http_listener),
                  "http.cookie_secret: expected either \"cookie_secret\" or "
                  "\"cookie_secret_file\""));
  CHECK(error_has(config_with(R"("http": {"cookie_secret": "short"})", http_listener),
                  "http.cookie_secret: expected a secret of at least 16 bytes"));
  CHECK(error_has(
      config_with(R"("http": {"cookie_secret_file": "/nonexistent/route.secret"})", http_listener),
      "http.cookie_secret_file: cannot read"));
  CHECK(error_has(config_with(R"("http": {"cookie_secret": "0123456789abcdef", "cookie_ttl": 1})",
                              http_listener),
                  "http.cookie_ttl"));
  CHECK(error_has(
      config_with(R"("http": {"cookie_secret": "0123456789abcdef", "max_body": 1})", http_listener),
      "http.max_body: unknown key"));
  // Without an http listener the section is not needed.
  CHECK(error_of(config_with("")).empty());

  const auto secret_path = temp_path().string() + ".secret";
  std::ofstream(secret_path) << "0123456789abcdef-from-a-file\n";
  TempConfig f(config_with(R"("http": {"cookie_secret_file": ")" + secret_path +
                               R"(", "cookie_ttl": 600, "max_upload_size": 2048,
                                   "keepalive_timeout": 5})",
                           http_listener));
  auto c = load_proxy_config(f.path.string());
  std::filesystem::remove(secret_path);
  REQUIRE(c.http.cookie);
  CHECK(c.http.cookie_ttl == 600s);
  CHECK(c.http.max_upload_size == 2048);
  CHECK(c.http.max_body_size == 1024 * 1024);
  CHECK(c.http.max_header_size == 16 * 1024);
  CHECK(c.http.keepalive_timeout == 5s);
  // The file's newline is not part of the secret: a cookie made with the
  // bare text verifies.
  postern::proxy::RoutingCookie same(postern::core::Secret("0123456789abcdef-from-a-file"));
  const auto value = same.issue({"node1", "alice@example.com", postern::proxy::unix_now() + 60});
  CHECK(c.http.cookie->verify(value, postern::proxy::unix_now(), [](auto) { return true; }));
}
