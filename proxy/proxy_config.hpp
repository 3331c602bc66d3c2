// The proxy's configuration file (conf/proxy.json is the commented example):
//
//   {
//     "proxy": { "name": "proxy1", "threads": 0, "verify_credentials": true,
//                "connect_timeout": 5, "login_timeout": 60, "proxy_ttl": 5,
//                "drain_timeout": 30, "buffer": 65536, "splice": true,
//                "splice_pipe": 1048576,
//                "node_pool": { "max_idle": 16, "idle_timeout": 10 },
//                "master_login": { "user": "proxy-master", "password_file": "master.secret" } },
//     "throttle": { "base_delay": 0.5, "max_delay": 15, "forget_after": 900,
//                   "max_keys": 100000 },
//     "health": { "probe_interval": 5, "probe_timeout": 2 },
//     "tls": { "cert": "...", "key": "..." },
//     "listeners": [ {"name": "imap", "protocol": "imap", "address": "0.0.0.0:143",
//                     "tls": "starttls", "proxy_protocol": false, ...}, ... ],
//     "admin": { "address": "127.0.0.1:9100" },
//     "directory": { ... }, "log": { ... },
//     "smtp": { "hostname": "mx.example.com", "local_domains": ["example.com"],
//               "max_message_size": 52428800 },
//     "http": { "cookie_secret_file": "route.secret", "cookie_ttl": 43200,
//               "max_header_size": 16384, "max_body_size": 1048576,
//               "max_upload_size": 26214400, "keepalive_timeout": 60,
//               "header_timeout": 30 },
//     "nodes": { "node1": { "imap": "10.0.0.1:143", "pop3": "10.0.0.1:110",
//                           "smtp": "10.0.0.1:25", "submission": "10.0.0.1:587",
//                           "http": "10.0.0.1:8080",
//                           "tls": { "mode": "starttls", "ca": "ca.crt",
//                                    "server_name": "node1.example.com" } } }
//   }
//
// A node's services are IP:port (connect_tcp takes no names). Its "tls"
// object takes "mode" (none | starttls | implicit; starttls when the object is
// present), "ca", "verify" (default true), "server_name" (default: the
// address), "cert"/"key" (a client certificate), "min_version", "ciphers".
//
// "master_login" (optional) takes "user" and either "password" or
// "password_file" (read once at load; one trailing newline dropped). With it
// the proxy hands a session to the node as the master user acting for the
// account (PLAIN authzid), so the client may log in with any mechanism the
// proxy takes; it needs verify_credentials, since the node then never sees
// the user's password.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/listener.hpp"
#include "core/log_config.hpp"
#include "core/net_address.hpp"
#include "core/secret.hpp"
#include "core/tls.hpp"
#include "mapping/mapping_config.hpp"
#include "proxy/routing_cookie.hpp"

namespace postern::proxy {

// How the proxy talks to one node: an address per service, and TLS on the hop.
struct NodeEndpoints {
  std::string name;
  std::map<std::string, core::Endpoint> services;  // "imap", "pop3", "smtp", "submission", "http"
  enum class TlsMode { None, StartTls, Implicit };
  TlsMode tls_mode = TlsMode::None;
  std::shared_ptr<core::TlsContext> tls;  // client context (verifies the node); null for None
  std::string server_name;                // the name the node's certificate must carry
};

// Failed-login delays (the seeds' "error control" at the edge).
struct ThrottleConfig {
  // After the n-th recent failure from an IP or for a login, the next answer
  // to that IP or login waits base_delay * 2^(n-1), up to max_delay.
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{15'000};
  // A key with no failure for this long is forgotten.
  std::chrono::milliseconds forget_after{15 * 60 * 1000};
  std::size_t max_keys = 100'000;  // memory bound: the oldest keys go first
};

struct HealthConfig {
  std::chrono::milliseconds probe_interval{5'000};  // how often a down node is retried
  std::chrono::milliseconds probe_timeout{2'000};
};

// What the SMTP listeners need to decide at the edge.
struct ProxySmtpConfig {
  std::string hostname;                 // greeting and EHLO name
  std::set<std::string> local_domains;  // RCPT to other domains needs AUTH
  std::string primary_domain;           // unqualified RCPT (from directory.primary_domain)
  std::uint64_t max_message_size = 50ull * 1024 * 1024;  // announced in SIZE (the nodes')
};

// The WebMail listeners (protocol "http"). "cookie_secret" or
// "cookie_secret_file" (at least 16 bytes; the same on every proxy of the
// cluster) is required once an http listener exists.
struct ProxyHttpConfig {
  std::shared_ptr<const RoutingCookie> cookie;     // null without an http listener
  std::chrono::seconds cookie_ttl{12 * 3600};      // a login's route lasts this long
  std::size_t max_header_size = 16 * 1024;         // request head: else 431 (414 for the target)
  std::size_t max_body_size = 1024 * 1024;         // any other request body: else 413
  std::size_t max_upload_size = 25 * 1024 * 1024;  // multipart/form-data bodies: else 413
  // Between two requests on a client connection (and on a kept node connection).
  std::chrono::milliseconds keepalive_timeout{60'000};
  // From a request's first byte to the end of its head (slow clients).
  std::chrono::milliseconds header_timeout{30'000};
};

struct ProxyConfig {
  std::string file;
  std::string name = "proxy";
  std::size_t threads = 0;  // event loops; 0 = one per core
  // Check the password against the directory before choosing a node, so bad
  // logins stop here.
  bool verify_credentials = true;
  std::chrono::milliseconds connect_timeout{5'000};  // to a node, TLS included
  std::chrono::milliseconds login_timeout{60'000};   // from greeting to hand-off
  // Hops left in the ID x-proxy-ttl the proxy sends (and believes from a
  // trusted proxy): a loop of proxies ends instead of spinning.
  int proxy_ttl = 5;
  std::chrono::milliseconds drain_timeout{30'000};
  // Bytes buffered per direction of a pumped session before reading the
  // other side stops (resumes at half).
  std::size_t buffer = 64 * 1024;
  // Plaintext on both sides after the hand-off: let the kernel move the
  // bytes (splice(2)) instead of copying them through the proxy.
  bool splice = true;
  // A spliced direction's pipe: the bytes it holds while the receiver is
  // slow (in place of `buffer`), and the most one splice(2) moves.
  std::size_t splice_pipe = 1 << 20;
  // IMAP node connections kept after a LOGOUT for the next login to the same
  // node (RFC 8437 UNAUTHENTICATE): at most this many per node and worker
  // thread (0: none), each for at most idle_timeout, which must stay below
  // the nodes' timeout for a connection that is not logged in.
  std::size_t node_pool_max_idle = 16;
  std::chrono::milliseconds node_pool_idle_timeout{10'000};
  // The nodes' master user (their "master_users"): empty = replay the
  // client's own login. Set together or not at all.
  std::string master_user;
  core::Secret master_password;
  ThrottleConfig throttle;
  HealthConfig health;
  std::shared_ptr<core::TlsContext> tls;
  std::vector<std::unique_ptr<core::ListenerConfig>> listeners;
  std::optional<core::Endpoint> admin;
  mapping::DirectoryConfig directory;
  core::LogConfig log;
  ProxySmtpConfig smtp;
  ProxyHttpConfig http;
  std::map<std::string, NodeEndpoints> nodes;
};

// The listener protocols the proxy serves.
inline const std::set<std::string>& proxy_protocols() {
  static const std::set<std::string> p{"imap", "pop3", "smtp", "submission", "http"};
  return p;
}

// Throws core::ConfigError naming the file, the key and what was expected.
ProxyConfig load_proxy_config(const std::string& file);

}  // namespace postern::proxy
