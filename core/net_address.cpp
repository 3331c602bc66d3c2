#include "core/net_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>
#include <charconv>
#include <cstring>

namespace postern::core {

namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535 || s.empty()) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  std::array<std::uint8_t, 16> b{};
  if (inet_pton(AF_INET6, s.c_str(), b.data()) != 1) return std::nullopt;
  if (std::memcmp(b.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0) {
    std::memcpy(ip.bytes.data(), b.data() + 12, 4);
    return ip;
  }
  ip.v6 = true;
  ip.bytes = b;
  return ip;
}

std::optional<IpAddress> IpAddress::from_sockaddr(const sockaddr* sa) {
  IpAddress ip;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
    return ip;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr);
    if (std::memcmp(b, kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0) {
      std::memcpy(ip.bytes.data(), b + 12, 4);
      return ip;
    }
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), b, 16);
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  if (!v6) {
    // By hand: glibc's inet_ntop formats IPv4 with sprintf, and a proxy
    // prints its client's address several times per login.
    std::string out;
    out.reserve(15);
    for (int i = 0; i < 4; ++i) {
      if (i > 0) out.push_back('.');
      const unsigned b = bytes[static_cast<std::size_t>(i)];
      if (b >= 100) out.push_back(static_cast<char>('0' + b / 100));
      if (b >= 10) out.push_back(static_cast<char>('0' + b / 10 % 10));
      out.push_back(static_cast<char>('0' + b % 10));
    }
    return out;
  }
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  Endpoint e;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    e.host = std::string(text.substr(1, close - 1));
    if (!IpAddress::parse(e.host) || !IpAddress::parse(e.host)->v6) return std::nullopt;
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    e.host = std::string(text.substr(0, colon));
    if (e.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs brackets
    port = text.substr(colon + 1);
  }
  if (e.host == "*") e.host.clear();
  auto p = parse_port(port);
  if (!p) return std::nullopt;
  e.port = *p;
  return e;
}

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host.empty() ? "*" : host, port);
}

std::optional<PeerAddress> PeerAddress::from_sockaddr(const sockaddr* sa) {
  auto ip = IpAddress::from_sockaddr(sa);
  if (!ip) return std::nullopt;
  PeerAddress p;
  p.ip = *ip;
  p.port = sa->sa_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port)
                                    : ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  return p;
}

std::string PeerAddress::to_string() const {
  return ip.v6 ? fmt::format("[{}]:{}", ip.to_string(), port)
               : fmt::format("{}:{}", ip.to_string(), port);
}

bool PeerAddress::is_loopback() const {
  if (!ip.v6) return ip.bytes[0] == 127;
  static const std::array<std::uint8_t, 16> kLoop6 = {0, 0, 0, 0, 0, 0, 0, 0,
                                                      0, 0, 0, 0, 0, 0, 0, 1};
  return ip.bytes == kLoop6;
}

std::optional<Network> Network::parse(std::string_view text) {
  Network n;
  auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int max = ip->v6 ? 128 : 32;
  n.prefix_ = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    int v = -1;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || p != digits.data() + digits.size() || v < 0 || v > max) {
      return std::nullopt;
    }
    n.prefix_ = v;
  }
  n.base_ = *ip;
  return n;
}

bool Network::contains(const IpAddress& ip) const {
  if (ip.v6 != base_.v6) return false;
  int full = prefix_ / 8, rest = prefix_ % 8;
  if (std::memcmp(ip.bytes.data(), base_.bytes.data(), static_cast<std::size_t>(full)) != 0) {
    return false;
  }
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (ip.bytes[static_cast<std::size_t>(full)] & mask) ==
         (base_.bytes[static_cast<std::size_t>(full)] & mask);
}

std::string Network::to_string() const {
  return fmt::format("{}/{}", base_.to_string(), prefix_);
}

std::optional<NetworkList> NetworkList::parse(const std::vector<std::string>& items,
                                              std::string* bad) {
  std::vector<Network> nets;
  for (const auto& item : items) {
    auto n = Network::parse(item);
    if (!n) {
      if (bad != nullptr) *bad = item;
      return std::nullopt;
    }
    nets.push_back(*n);
  }
  return NetworkList(std::move(nets));
}

bool NetworkList::contains(const IpAddress& ip) const {
  for (const auto& n : networks_) {
    if (n.contains(ip)) return true;
  }
  return false;
}

}  // namespace postern::core
