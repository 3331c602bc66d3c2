// Socket addresses and networks: "127.0.0.1:11143", "[::1]:11143",
// "10.0.0.0/8", "::1". Used by listeners, access rules and the lists of
// trusted proxy / load-balancer networks.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::core {

// An IP address (v4 or v6) without a port. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are stored as IPv4 so rules written for IPv4 match them.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4

  static std::optional<IpAddress> parse(std::string_view text);
  static std::optional<IpAddress> from_sockaddr(const sockaddr* sa);
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

// host:port for listening or connecting. "*" or "" host means every address.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  // "127.0.0.1:25", "[::1]:25", "*:25". nullopt if malformed.
  static std::optional<Endpoint> parse(std::string_view text);
  std::string to_string() const;
};

// The peer of a connection: address and port, printable.
struct PeerAddress {
  IpAddress ip;
  std::uint16_t port = 0;
  static std::optional<PeerAddress> from_sockaddr(const sockaddr* sa);
  std::string to_string() const;  // "127.0.0.1:4242" / "[::1]:4242"
  bool is_loopback() const;
};

// A CIDR network: "10.0.0.0/8", "::1/128", or a single address.
class Network {
 public:
  static std::optional<Network> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  std::string to_string() const;

 private:
  IpAddress base_;
  int prefix_ = 0;
};

class NetworkList {
 public:
  NetworkList() = default;
  explicit NetworkList(std::vector<Network> networks) : networks_(std::move(networks)) {}
  // Parses every entry; on the first bad one returns nullopt and sets `bad`.
  static std::optional<NetworkList> parse(const std::vector<std::string>& items, std::string* bad);
  bool contains(const IpAddress& ip) const;
  bool empty() const { return networks_.empty(); }

 private:
  std::vector<Network> networks_;
};

}  // namespace postern::core
