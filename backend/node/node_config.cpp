#include "backend/node/node_config.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <filesystem>
#include <thread>

namespace postern::node {

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

smtp::SmtpConfig parse_smtp(const core::ConfigNode* node, const std::string& primary_domain) {
  smtp::SmtpConfig c;
  c.primary_domain = lower(primary_domain);
  c.hostname = host_name();
  if (!c.primary_domain.empty()) c.local_domains.insert(c.primary_domain);
  if (node == nullptr) return c;
  node->allow_only({"hostname", "local_domains", "relay_networks", "max_message_size",
                    "max_recipients", "max_received", "spf", "spf_timeout"});
  c.hostname = node->string_or("hostname", c.hostname);
  if (node->has("local_domains")) {
    c.local_domains.clear();
    for (const auto& d : node->strings_or("local_domains", {})) {
      if (d.empty() || d.find_first_of(" @/") != std::string::npos)
        node->fail("local_domains", fmt::format("expected domain names, found \"{}\"", d));
      c.local_domains.insert(lower(d));
    }
  }
  std::string bad;
  auto relay = core::NetworkList::parse(node->strings_or("relay_networks", {}), &bad);
  if (!relay)
    node->fail("relay_networks",
               fmt::format("expected networks such as 10.0.0.0/8, found \"{}\"", bad));
  c.relay_networks = *relay;
  c.max_message_size = static_cast<std::uint64_t>(
      node->integer_or("max_message_size", 50LL * 1024 * 1024, 1024, 2LL * 1024 * 1024 * 1024));
  c.max_recipients = static_cast<std::size_t>(node->integer_or("max_recipients", 1000, 1, 100'000));
  c.max_received = static_cast<std::size_t>(node->integer_or("max_received", 30, 1, 1000));
  const auto spf = node->choice_or("spf", {"reject", "tag", "ignore"}, "tag");
  c.spf_timeout = node->seconds_or("spf_timeout", 20, 0.1, 600);
  c.spf = spf == "reject" ? smtp::SpfPolicy::Reject
          : spf == "tag"  ? smtp::SpfPolicy::Tag
                          : smtp::SpfPolicy::Ignore;
  return c;
}

queue::SmtpClientConfig parse_smtp_client(const core::ConfigNode* node, const std::string& host) {
  queue::SmtpClientConfig c;
  c.helo_name = host;
  if (node == nullptr) return c;
  node->allow_only({"port", "connect_timeout", "command_timeout", "max_per_destination",
                    "reuse_idle", "starttls", "helo_name"});
  c.port = static_cast<std::uint16_t>(node->integer_or("port", 25, 1, 65535));
  c.connect_timeout = node->seconds_or("connect_timeout", 30, 0.1, 600);
  c.command_timeout = node->seconds_or("command_timeout", 300, 0.1, 3600);
  c.max_per_destination =
      static_cast<std::size_t>(node->integer_or("max_per_destination", 20, 1, 1000));
  c.reuse_idle = node->seconds_or("reuse_idle", 5, 0, 600);
  c.starttls =
      node->choice_or("starttls", {"opportunistic", "none"}, "opportunistic") == "opportunistic";
  c.helo_name = node->string_or("helo_name", host);
  return c;
}

// The shapes crypt(3) hashes worth storing have: "$6$salt$digest" or
// "$y$params$salt$digest" (mapping/password_hash.hpp verifies them).
bool looks_like_hash(std::string_view hash) {
  if (!hash.starts_with("$6$") && !hash.starts_with("$y$")) return false;
  for (char ch : hash)
    if (ch <= 0x20 || ch >= 0x7f) return false;
  const auto last = hash.rfind('$');
  return last > 2 && last + 1 < hash.size();
}

std::vector<MasterUser> parse_master_users(const core::ConfigNode& node) {
  std::vector<MasterUser> out;
  for (const auto& m : node.objects("master_users")) {
    m.allow_only({"user", "password_hash", "password"});
    MasterUser u;
    u.user = m.string("user");
    if (u.user.empty() || u.user.size() > 255 ||
        u.user.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string::npos)
      m.fail("user", fmt::format("expected a user name without spaces, found \"{}\"", u.user));
    for (const auto& other : out)
      if (other.user == u.user) m.fail("user", fmt::format("\"{}\" is listed twice", u.user));
    if (m.has("password_hash") == m.has("password"))
      m.fail("password_hash",
             "expected either \"password_hash\" (crypt(3): $6$... or $y$...) or, for "
             "development, \"password\"");
    if (m.has("password_hash")) {
      u.password_hash = m.string("password_hash");
      if (!looks_like_hash(u.password_hash))
        m.fail("password_hash",
               "expected a SHA-512 ($6$salt$digest) or yescrypt ($y$params$salt$digest) hash "
               "(posternctl hash-password)");
    } else {
      u.password = m.string("password");
      if (u.password.empty() || u.password.find('\0') != std::string::npos)
        m.fail("password", "expected a non-empty password");
    }
    out.push_back(std::move(u));
  }
  return out;
}

void parse_mail_settings(const core::ConfigNode& root, NodeConfig& c) {
  auto smtp_node = root.optional_child("smtp");
  c.smtp = parse_smtp(smtp_node ? &*smtp_node : nullptr, c.directory.primary_domain);
  auto client_node = root.optional_child("smtp_client");
  c.smtp_client = parse_smtp_client(client_node ? &*client_node : nullptr, c.smtp.hostname);
  // The queue lives next to the store by default: same filesystem, so local
  // delivery links the queued file instead of copying it.
  const std::string default_queue =
      (std::filesystem::path(c.store_path).lexically_normal().parent_path() / "queue").string();
  if (auto q = root.optional_child("queue")) {
    c.queue = queue::QueueConfig::from_config(*q, default_queue);
  } else {
    c.queue.path = default_queue;
  }
  if (auto d = root.optional_child("dns")) c.dns = core::DnsConfig::from_config(*d);
  if (auto cluster = root.optional_child("cluster")) {
    for (const auto& name : cluster->keys()) {
      auto entry = cluster->child(name);
      entry.allow_only({"smtp"});
      const auto text = entry.string("smtp");
      auto ep = core::Endpoint::parse(text);
      if (!ep || ep->port == 0)
        entry.fail(
            "smtp",
            fmt::format("expected host:port of the node's SMTP listener, found \"{}\"", text));
      c.cluster_smtp[name] = *ep;
    }
  }
}

WebmailConfig parse_webmail(const core::ConfigNode& node) {
  node.allow_only({"session_idle_timeout", "session_max_age", "max_upload_size", "max_sessions"});
  WebmailConfig c;
  c.session_idle_timeout = node.seconds_or("session_idle_timeout", 1800, 1, 7 * 86400);
  c.session_max_age = node.seconds_or("session_max_age", 43200, 1, 30 * 86400);
  c.max_upload_size = static_cast<std::uint64_t>(
      node.integer_or("max_upload_size", 25LL * 1024 * 1024, 1024, 1024LL * 1024 * 1024));
  c.max_sessions = static_cast<std::size_t>(node.integer_or("max_sessions", 10'000, 1, 10'000'000));
  return c;
}

}  // namespace

NodeConfig load_node_config(const std::string& file, const std::set<std::string>& protocols) {
  auto root = core::load_config_file(file);
  root.allow_only({"node", "tls", "listeners", "admin", "directory", "log", "smtp", "queue",
                   "smtp_client", "dns", "cluster", "webmail"});
  NodeConfig c;
  c.file = file;

  auto node = root.child("node");
  node.allow_only({"name", "threads", "worker_threads", "worker_queue", "store", "trusted_proxies",
                   "login_referrals", "drain_timeout", "store_sync", "master_users", "store_linger",
                   "store_linger_max"});
  c.name = node.string("name");
  if (c.name.empty())
    node.fail("name", "expected this node's name, as the directory's node attribute holds it");
  c.threads = static_cast<std::size_t>(node.integer_or("threads", 0, 0, 256));
  if (c.threads == 0) c.threads = std::max(1U, std::thread::hardware_concurrency());
  c.worker_threads = static_cast<std::size_t>(node.integer_or("worker_threads", 16, 1, 256));
  c.worker_queue = static_cast<std::size_t>(node.integer_or("worker_queue", 10'000, 1, 10'000'000));
  c.store_path = node.path_or("store", "");
  if (c.store_path.empty())
    node.fail("store", "missing; expected the folder that holds the accounts");
  std::string bad;
  auto trusted = core::NetworkList::parse(node.strings_or("trusted_proxies", {}), &bad);
  if (!trusted)
    node.fail("trusted_proxies",
              fmt::format("expected networks such as 10.0.0.0/8, found \"{}\"", bad));
  c.trusted_proxies = *trusted;
  c.master_users = parse_master_users(node);
  if (!c.master_users.empty() && c.trusted_proxies.empty())
    node.fail("master_users",
              "needs trusted_proxies: a master login is taken only from the proxies' networks");
  c.login_referrals = node.boolean_or("login_referrals", false);
  c.drain_timeout = node.seconds_or("drain_timeout", 30, 0, 3600);
  c.store_sync = node.choice_or("store_sync", {"batch", "ordered"}, "batch") == "batch"
                     ? store::SyncMode::Batch
                     : store::SyncMode::Ordered;
  c.store_linger = node.seconds_or("store_linger", 30, 0, 3600);
  c.store_linger_max =
      static_cast<std::size_t>(node.integer_or("store_linger_max", 512, 1, 100'000));

  if (auto tls = root.optional_child("tls")) {
    c.tls = core::TlsContext::server(core::TlsConfig::from_config(*tls), file, "tls");
  }
  for (const auto& l : root.objects("listeners")) {
    auto cfg = std::make_unique<core::ListenerConfig>(core::ListenerConfig::from_config(l, c.tls));
    if (protocols.count(cfg->protocol) == 0) {
      std::string known;
      for (const auto& p : protocols) known += (known.empty() ? "" : ", ") + p;
      l.fail("protocol", fmt::format("expected one of {}, found \"{}\"", known, cfg->protocol));
    }
    core::check_own_address(l, *cfg, c.listeners);
    c.listeners.push_back(std::move(cfg));
  }
  if (c.listeners.empty()) root.fail("listeners", "expected at least one listener");
  if (auto admin = root.optional_child("admin")) {
    admin->allow_only({"address"});
    auto text = admin->string("address");
    auto ep = core::Endpoint::parse(text);
    if (!ep) admin->fail("address", fmt::format("expected host:port, found \"{}\"", text));
    c.admin = *ep;
  }
  c.directory = mapping::parse_directory_config(root.child("directory"));
  if (auto log = root.optional_child("log")) c.log = core::LogConfig::from_config(*log);
  parse_mail_settings(root, c);
  if (auto webmail = root.optional_child("webmail")) c.webmail = parse_webmail(*webmail);
  return c;
}

}  // namespace postern::node
