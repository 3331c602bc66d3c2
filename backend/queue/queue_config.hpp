// The queue's settings (the "queue" and "smtp_client" objects of a node file,
// read by backend/node/node_config.cpp):
//
//   "queue": {"path": "../var/node1/queue", "retry_schedule": [60, 300, 900, 3600],
//             "max_lifetime": 432000, "max_deliveries": 100},
//   "smtp_client": {"port": 25, "connect_timeout": 30, "command_timeout": 300,
//                   "max_per_destination": 20, "reuse_idle": 5, "starttls": "opportunistic"}
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace postern::core {
class ConfigNode;
}

namespace postern::node::queue {

struct QueueConfig {
  std::string path;  // the spool folder; default: "queue" next to node.store
  // Waits before the 2nd, 3rd ... attempt; the last one repeats.
  std::vector<std::chrono::seconds> retry_schedule{
      std::chrono::seconds(60), std::chrono::seconds(300), std::chrono::seconds(900),
      std::chrono::seconds(3600)};
  // Past this age a temporarily failing recipient is bounced (RFC 5321
  // 4.5.4.1: give up after 4-5 days).
  std::chrono::seconds max_lifetime{5 * 24 * 3600};
  std::size_t max_deliveries = 100;  // messages being delivered at once

  // The "queue" object of a node file (above); `default_path` when "path" is
  // absent. Throws core::ConfigError naming the key.
  static QueueConfig from_config(const core::ConfigNode& node, const std::string& default_path);

  // The wait after `attempts` attempts (>= 1): retry_schedule[attempts - 1],
  // the last entry repeating; 60 s if the schedule is empty.
  std::chrono::seconds retry_delay(std::uint32_t attempts) const;
};

// Outgoing SMTP: relay to other nodes and delivery by MX.
struct SmtpClientConfig {
  std::uint16_t port = 25;  // the port of MX hosts (tests point it elsewhere)
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds command_timeout{300'000};  // RFC 5321 4.5.3.2 allows more for DATA
  std::size_t max_per_destination = 20;                // connections at once per domain/node
  std::chrono::milliseconds reuse_idle{5'000};  // keep an idle connection this long; 0 = never
  bool starttls = true;                         // opportunistic: when offered, unverified
  std::string helo_name;                        // EHLO name; default: the node's hostname
};

}  // namespace postern::node::queue
