// A node's configuration file (conf/node1.json is the commented example):
//
//   {
//     "node": { "name": "node1", "threads": 0, "worker_threads": 16, "store": "/var/lib/postern",
//               "trusted_proxies": ["127.0.0.0/8"], "login_referrals": false,
//               "drain_timeout": 30, "store_linger": 30, "store_linger_max": 512,
//               "master_users": [ {"user": "proxy-master", "password_hash": "$6$..."} ] },
//     "tls": { "cert": "...", "key": "..." },
//     "listeners": [ {"name": "imap", "address": "127.0.0.1:11143", "tls": "starttls"}, ... ],
//     "admin": { "address": "127.0.0.1:11090" },
//     "directory": { ... },
//     "log": { ... },
//     "smtp": { ... }, "queue": { ... }, "smtp_client": { ... }, "dns": { ... },
//     "cluster": { "node2": { "smtp": "127.0.0.1:12025" } },
//     "webmail": { "session_idle_timeout": 1800, "session_max_age": 43200,
//                  "max_upload_size": 26214400, "max_sessions": 10000 }
//   }
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backend/queue/queue_config.hpp"
#include "backend/smtp/smtp_config.hpp"
#include "backend/store/store_types.hpp"
#include "core/dns_resolver.hpp"
#include "core/listener.hpp"
#include "core/log_config.hpp"
#include "core/net_address.hpp"
#include "core/tls.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::node {

// A master user (Dovecot's term): the proxies log in as it, acting for the
// account they verified (SASL PLAIN authzid), so the node never needs the
// user's own password. Believed only from trusted_proxies.
struct MasterUser {
  std::string user;
  // A crypt(3) hash, SHA-512 ($6$) or yescrypt ($y$), as users.map holds them.
  std::string password_hash;
  // Or the password in clear ("password": for development only; the file
  // then holds a secret that works from every proxy address).
  std::string password;
};

// WebMail ("webmail"): browser sessions and uploads (backend/webmail/API.md).
struct WebmailConfig {
  std::chrono::milliseconds session_idle_timeout{30 * 60 * 1000};
  std::chrono::milliseconds session_max_age{12 * 60 * 60 * 1000};
  std::uint64_t max_upload_size = 25 * 1024 * 1024;  // a send or draft request's body
  std::size_t max_sessions = 10'000;  // per node; past it the least recently used goes
};

struct NodeConfig {
  std::string file;                 // where it was read from
  std::string name;                 // this node's name, as the directory's node attribute says
  std::size_t threads = 0;          // event loops; 0 = one per core
  std::size_t worker_threads = 16;  // blocking work (disk, fsync): mostly waiting
  std::size_t worker_queue = 10'000;
  std::string store_path;
  // How appends are made durable (backend/store/account_store.hpp): "batch"
  // (one syncfs per group; the default) or "ordered" (fsync per file, then
  // the directory, then the index), for a filesystem shared with busy
  // neighbours.
  store::SyncMode store_sync = store::SyncMode::Batch;
  // How long an account stays open after its last session (0 = closed at
  // once), and for at most how many idle accounts (backend/store/store.hpp, LINGER).
  std::chrono::milliseconds store_linger{30'000};
  std::size_t store_linger_max = 512;
  // Proxies whose ID x-originating-ip / XCLIENT we believe.
  core::NetworkList trusted_proxies;
  // The proxies' master logins; empty = no login may act for another account.
  std::vector<MasterUser> master_users;
  // A user of another node gets a login referral (RFC 2221) instead of NO [UNAVAILABLE].
  bool login_referrals = false;
  std::chrono::milliseconds drain_timeout{30'000};
  std::shared_ptr<core::TlsContext> tls;
  // unique_ptr: listeners keep references to their configuration.
  std::vector<std::unique_ptr<core::ListenerConfig>> listeners;
  std::optional<core::Endpoint> admin;
  mapping::DirectoryConfig directory;
  core::LogConfig log;
  // SMTP receiving and submission ("smtp"), the queue ("queue"), outgoing
  // SMTP ("smtp_client"), the resolver ("dns"; also SPF's).
  smtp::SmtpConfig smtp;
  queue::QueueConfig queue;
  queue::SmtpClientConfig smtp_client;
  core::DnsConfig dns;
  // Every node's SMTP listener by node name ("cluster": {"node2": {"smtp":
  // "127.0.0.1:12025"}}): where mail for another node's account is relayed.
  std::map<std::string, core::Endpoint> cluster_smtp;
  WebmailConfig webmail;
};

// Throws core::ConfigError naming the file, the key and what was expected.
// `protocols` are the services this build of the node serves; a listener for
// another protocol is an error.
NodeConfig load_node_config(const std::string& file, const std::set<std::string>& protocols);

}  // namespace postern::node
