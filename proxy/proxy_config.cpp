#include "proxy/proxy_config.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

namespace postern::proxy {

namespace {

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "localhost";
  return buffer;
}

std::string lower(std::string s) {
  for (char& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

// A secret from `key` or from the file named by `file_key`; throws naming
// the key when neither or both are given, or the file cannot be read.
core::Secret secret_from(const core::ConfigNode& m, const std::string& key,
                         const std::string& file_key, std::string_view together_with) {
  const bool inline_password = m.has(key);
  const bool from_file = m.has(file_key);
  if (inline_password == from_file)
    m.fail(key, fmt::format("expected either \"{}\" or \"{}\"{}", key, file_key, together_with));
  if (inline_password) return core::Secret(m.string(key));
  const auto path = m.path_or(file_key, "");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) m.fail(file_key, fmt::format("cannot read \"{}\"", path));
  std::string password = std::move(text).str();
  // Files written by `echo` or an editor end with a newline; it is not part of the password.
  if (!password.empty() && password.back() == '\n') password.pop_back();
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return core::Secret(std::move(password));
}

void parse_master_login(const core::ConfigNode& m, ProxyConfig& c) {
  m.allow_only({"user", "password", "password_file"});
  if (!m.has("user")) m.fail("user", "missing; expected the master user the nodes know");
  c.master_user = m.string("user");
  if (c.master_user.empty() ||
      c.master_user.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string::npos)
    m.fail("user", fmt::format("expected a user name without spaces, found \"{}\"", c.master_user));
  c.master_password = secret_from(m, "password", "password_file", " with \"user\"");
  if (c.master_password.empty()) m.fail("password", "expected a non-empty password");
  if (c.master_password.reveal().find('\0') != std::string_view::npos)
    m.fail("password", "expected a password without NUL bytes");
}

void parse_proxy_section(const core::ConfigNode& node, ProxyConfig& c) {
  node.allow_only({"name", "threads", "verify_credentials", "connect_timeout", "login_timeout",
                   "proxy_ttl", "drain_timeout", "buffer", "splice", "splice_pipe", "master_login",
                   "node_pool"});
  c.name = node.string_or("name", c.name);
  if (c.name.empty()) node.fail("name", "expected this proxy's name (for logs), found \"\"");
  c.threads = static_cast<std::size_t>(node.integer_or("threads", 0, 0, 256));
  c.verify_credentials = node.boolean_or("verify_credentials", true);
  c.connect_timeout = node.seconds_or("connect_timeout", 5, 0.01, 600);
  c.login_timeout = node.seconds_or("login_timeout", 60, 1, 3600);
  c.proxy_ttl = static_cast<int>(node.integer_or("proxy_ttl", 5, 1, 100));
  c.drain_timeout = node.seconds_or("drain_timeout", 30, 0, 3600);
  // Below a few KiB a pumped session makes a system call per small chunk;
  // above a few MiB one idle session could hold more than a node's worth.
  c.buffer = static_cast<std::size_t>(node.integer_or("buffer", 64 * 1024, 16 * 1024, 16 << 20));
  c.splice = node.boolean_or("splice", true);
  // The kernel rounds a pipe up to a power of two pages and grows it past
  // fs.pipe-max-size (1 MiB) only for root; a refused size keeps 64 KiB.
  c.splice_pipe = static_cast<std::size_t>(node.integer_or("splice_pipe", 1 << 20, 4096, 16 << 20));
  if (auto p = node.optional_child("node_pool")) {
    p->allow_only({"max_idle", "idle_timeout"});
    c.node_pool_max_idle = static_cast<std::size_t>(p->integer_or("max_idle", 16, 0, 10'000));
    c.node_pool_idle_timeout = p->seconds_or("idle_timeout", 10, 0.1, 3600);
  }
  if (auto m = node.optional_child("master_login")) {
    parse_master_login(*m, c);
    // The node trusts the master login for any account: someone must have
    // checked the user's own password, and only the proxy can.
    if (!c.verify_credentials)
      node.fail("master_login",
                "needs verify_credentials: with a master login the node never sees the "
                "user's password, so the proxy must check it");
  }
}

ThrottleConfig parse_throttle(const core::ConfigNode& node) {
  node.allow_only({"base_delay", "max_delay", "forget_after", "max_keys"});
  ThrottleConfig c;
  c.base_delay = node.seconds_or("base_delay", 0.5, 0, 60);
  c.max_delay = node.seconds_or("max_delay", 15, 0, 600);
  if (c.max_delay < c.base_delay)
    node.fail("max_delay", "expected at least base_delay (the first delay)");
  c.forget_after = node.seconds_or("forget_after", 900, 1, 86400);
  c.max_keys = static_cast<std::size_t>(node.integer_or("max_keys", 100'000, 100, 100'000'000));
  return c;
}

HealthConfig parse_health(const core::ConfigNode& node) {
  node.allow_only({"probe_interval", "probe_timeout"});
  HealthConfig c;
  c.probe_interval = node.seconds_or("probe_interval", 5, 0.01, 3600);
  c.probe_timeout = node.seconds_or("probe_timeout", 2, 0.01, 600);
  return c;
}

// The hop's "tls" object: TlsConfig's keys plus how the hop starts TLS and
// the name the node's certificate must carry. TlsConfig::from_config would
// reject "mode" and "server_name", so its keys are read here.
void parse_node_tls(const core::ConfigNode& node, const std::string& file, NodeEndpoints& n) {
  node.allow_only({"mode", "ca", "server_name", "verify", "cert", "key", "min_version", "ciphers"});
  const auto mode = node.choice_or("mode", {"none", "starttls", "implicit"}, "starttls");
  n.tls_mode = mode == "none"       ? NodeEndpoints::TlsMode::None
               : mode == "starttls" ? NodeEndpoints::TlsMode::StartTls
                                    : NodeEndpoints::TlsMode::Implicit;
  core::TlsConfig t;
  t.cert_file = node.path_or("cert", "");
  t.key_file = node.path_or("key", "");
  if (t.cert_file.empty() != t.key_file.empty())
    node.fail(t.cert_file.empty() ? "cert" : "key",
              "expected both cert and key (a client certificate), or neither");
  t.ca_file = node.path_or("ca", "");
  t.min_version = node.choice_or("min_version", {"1.2", "1.3"}, "1.2");
  t.ciphers = node.string_or("ciphers", t.ciphers);
  t.verify_peer = node.boolean_or("verify", true);
  n.server_name = node.string_or("server_name", "");
  if (n.tls_mode == NodeEndpoints::TlsMode::None) return;
  n.tls = core::TlsContext::client(t, file, node.path());
}

NodeEndpoints parse_node(const core::ConfigNode& node, const std::string& name,
                         const std::string& file) {
  node.allow_only({"imap", "pop3", "smtp", "submission", "http", "tls"});
  NodeEndpoints n;
  n.name = name;
  for (const char* service : {"imap", "pop3", "smtp", "submission", "http"}) {
    if (!node.has(service)) continue;
    const auto text = node.string(service);
    auto ep = core::Endpoint::parse(text);
    // connect_tcp takes addresses, not names: a name here would fail at
    // every login instead of once at start.
    if (!ep || ep->port == 0 || !core::IpAddress::parse(ep->host))
      node.fail(service,
                fmt::format("expected the node's IP address and port such as 10.0.0.1:143, "
                            "found \"{}\"",
                            text));
    n.services[service] = *ep;
  }
  if (n.services.empty())
    node.fail("imap", "expected at least one of imap, pop3, smtp, submission, http");
  if (auto tls = node.optional_child("tls")) parse_node_tls(*tls, file, n);
  // Without a configured name, verify against the address we connect to.
  if (n.tls && n.server_name.empty()) n.server_name = n.services.begin()->second.host;
  return n;
}

ProxySmtpConfig parse_smtp(const core::ConfigNode* node, const std::string& primary_domain) {
  ProxySmtpConfig c;
  c.primary_domain = lower(primary_domain);
  c.hostname = host_name();
  if (!c.primary_domain.empty()) c.local_domains.insert(c.primary_domain);
  if (node == nullptr) return c;
  node->allow_only({"hostname", "local_domains", "max_message_size"});
  c.hostname = node->string_or("hostname", c.hostname);
  if (c.hostname.empty() || c.hostname.find_first_of(" @/\r\n") != std::string::npos)
    node->fail("hostname", fmt::format("expected a host name, found \"{}\"", c.hostname));
  if (node->has("local_domains")) {
    c.local_domains.clear();
    for (const auto& d : node->strings_or("local_domains", {})) {
      if (d.empty() || d.find_first_of(" @/") != std::string::npos)
        node->fail("local_domains", fmt::format("expected domain names, found \"{}\"", d));
      c.local_domains.insert(lower(d));
    }
  }
  c.max_message_size = static_cast<std::uint64_t>(
      node->integer_or("max_message_size", 50LL * 1024 * 1024, 1024, 2LL * 1024 * 1024 * 1024));
  return c;
}

// The "http" section; `root` names it in errors when it is missing.
ProxyHttpConfig parse_http(const core::ConfigNode& root) {
  ProxyHttpConfig c;
  auto node = root.optional_child("http");
  if (!node)
    root.fail("http",
              "expected an \"http\" section with \"cookie_secret\" or "
              "\"cookie_secret_file\": a listener has protocol \"http\"");
  node->allow_only({"cookie_secret", "cookie_secret_file", "cookie_ttl", "max_header_size",
                    "max_body_size", "max_upload_size", "keepalive_timeout", "header_timeout"});
  core::Secret secret = secret_from(*node, "cookie_secret", "cookie_secret_file", "");
  if (secret.reveal().size() < RoutingCookie::kMinSecretBytes)
    node->fail(node->has("cookie_secret") ? "cookie_secret" : "cookie_secret_file",
               fmt::format("expected a secret of at least {} bytes (the same on every proxy)",
                           RoutingCookie::kMinSecretBytes));
  c.cookie = std::make_shared<const RoutingCookie>(std::move(secret));
  c.cookie_ttl = std::chrono::duration_cast<std::chrono::seconds>(
      node->seconds_or("cookie_ttl", 43200, 60, 30 * 86400));
  c.max_header_size =
      static_cast<std::size_t>(node->integer_or("max_header_size", 16 * 1024, 1024, 1024 * 1024));
  c.max_body_size =
      static_cast<std::size_t>(node->integer_or("max_body_size", 1024 * 1024, 1024, 1LL << 30));
  c.max_upload_size = static_cast<std::size_t>(
      node->integer_or("max_upload_size", 25LL * 1024 * 1024, 1024, 4LL << 30));
  c.keepalive_timeout = node->seconds_or("keepalive_timeout", 60, 0.1, 3600);
  c.header_timeout = node->seconds_or("header_timeout", 30, 0.1, 3600);
  return c;
}

void parse_listeners(const core::ConfigNode& root, ProxyConfig& c) {
  for (const auto& l : root.objects("listeners")) {
    auto cfg = std::make_unique<core::ListenerConfig>(core::ListenerConfig::from_config(l, c.tls));
    if (proxy_protocols().count(cfg->protocol) == 0) {
      std::string known;
      for (const auto& p : proxy_protocols()) known += (known.empty() ? "" : ", ") + p;
      l.fail("protocol", fmt::format("expected one of {}, found \"{}\"", known, cfg->protocol));
    }
    core::check_own_address(l, *cfg, c.listeners);
    c.listeners.push_back(std::move(cfg));
  }
  if (c.listeners.empty()) root.fail("listeners", "expected at least one listener");
}

}  // namespace

ProxyConfig load_proxy_config(const std::string& file) {
  auto root = core::load_config_file(file);
  root.allow_only({"proxy", "throttle", "health", "tls", "listeners", "admin", "directory", "log",
                   "smtp", "http", "nodes"});
  ProxyConfig c;
  c.file = file;
  if (auto p = root.optional_child("proxy")) parse_proxy_section(*p, c);
  if (c.threads == 0) c.threads = std::max(1U, std::thread::hardware_concurrency());
  if (auto t = root.optional_child("throttle")) c.throttle = parse_throttle(*t);
  if (auto h = root.optional_child("health")) c.health = parse_health(*h);
  if (auto tls = root.optional_child("tls"))
    c.tls = core::TlsContext::server(core::TlsConfig::from_config(*tls), file, "tls");
  parse_listeners(root, c);
  if (auto admin = root.optional_child("admin")) {
    admin->allow_only({"address"});
    auto text = admin->string("address");
    auto ep = core::Endpoint::parse(text);
    if (!ep) admin->fail("address", fmt::format("expected host:port, found \"{}\"", text));
    c.admin = *ep;
  }
  c.directory = mapping::parse_directory_config(root.child("directory"));
  if (auto log = root.optional_child("log")) c.log = core::LogConfig::from_config(*log);
  auto smtp = root.optional_child("smtp");
  c.smtp = parse_smtp(smtp ? &*smtp : nullptr, c.directory.primary_domain);
  const bool serves_http = std::any_of(c.listeners.begin(), c.listeners.end(),
                                       [](const auto& l) { return l->protocol == "http"; });
  if (serves_http) c.http = parse_http(root);
  auto nodes = root.child("nodes");
  for (const auto& name : nodes.keys()) {
    c.nodes[name] = parse_node(nodes.child(name), name, file);
  }
  if (c.nodes.empty()) root.fail("nodes", "expected at least one node (\"node1\": {...})");
  return c;
}

}  // namespace postern::proxy
