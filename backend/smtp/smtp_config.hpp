// The SMTP server's settings: the "smtp" object of a node file, read by
// backend/node/node_config.cpp (conf/node1.json shows every key):
//
//   "smtp": {
//     "hostname": "node1.example.com",       // greeting, Received; default: the host's name
//     "local_domains": ["example.com"],      // default: the directory's primary_domain
//     "relay_networks": ["127.0.0.0/8"],     // may relay without AUTH
//     "max_message_size": 52428800,          // SIZE; 552 5.3.4 above it
//     "max_recipients": 1000,                // 452 4.5.3 above it
//     "max_received": 30,                    // 554 5.4.6 above it (loop)
//     "spf": "tag",                          // "reject" | "tag" | "ignore"
//     "spf_timeout": 20                      // seconds; then the result is temperror
//   }
//
// Listeners with "protocol": "smtp" receive mail (port 25's rules: AUTH not
// offered); "protocol": "submission" serves the node's users (AUTH required
// before MAIL, senders limited to the user's own addresses).
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "core/net_address.hpp"

namespace postern::node::smtp {

enum class SpfPolicy { Reject, Tag, Ignore };

struct SmtpConfig {
  std::string hostname;
  std::set<std::string> local_domains;  // lower-case
  std::string primary_domain;           // completes "RCPT TO:<alice>"
  core::NetworkList relay_networks;
  std::uint64_t max_message_size = 50ull * 1024 * 1024;
  std::size_t max_recipients = 1000;
  std::size_t max_received = 30;
  SpfPolicy spf = SpfPolicy::Tag;
  // RFC 7208 4.6.4: an evaluation still running after this is a temperror.
  std::chrono::milliseconds spf_timeout{20'000};
};

}  // namespace postern::node::smtp
