#include "backend/node/node_config.hpp"

#include <fmt/format.h>

#include <thread>

namespace postern::node {

NodeConfig load_node_config(const std::string& file, const std::set<std::string>& protocols) {
  auto root = core::load_config_file(file);
  root.allow_only({"node", "tls", "listeners", "admin", "directory", "log"});
  NodeConfig c;
  c.file = file;

  auto node = root.child("node");
  node.allow_only({"name", "threads", "worker_threads", "worker_queue", "store", "trusted_proxies",
                   "login_referrals", "drain_timeout", "store_sync"});
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
  c.login_referrals = node.boolean_or("login_referrals", false);
  c.drain_timeout = node.seconds_or("drain_timeout", 30, 0, 3600);
  c.store_sync = node.choice_or("store_sync", {"batch", "ordered"}, "batch") == "batch"
                     ? store::SyncMode::Batch
                     : store::SyncMode::Ordered;

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
  return c;
}

}  // namespace postern::node
