// DnsConfig::from_config: the "dns" object of a node's file (core/dns_resolver.hpp).
#include <fmt/format.h>

#include "core/dns_resolver.hpp"

namespace postern::core {
namespace {

// "192.0.2.53", "192.0.2.53:5353", "::1", "[::1]:5353": an address, because
// the resolver must not need a resolver to find its nameservers.
std::optional<Endpoint> nameserver_endpoint(const std::string& text) {
  std::optional<Endpoint> ep;
  if (IpAddress::parse(text))
    ep = Endpoint{text, 53};
  else if (!text.empty() && text.front() == '[' && text.back() == ']')
    ep = Endpoint::parse(text + ":53");
  else
    ep = Endpoint::parse(text);
  if (!ep || ep->port == 0 || !IpAddress::parse(ep->host)) return std::nullopt;
  return ep;
}

}  // namespace

DnsConfig DnsConfig::from_config(const ConfigNode& node) {
  node.allow_only({"nameservers", "timeout", "retries", "cache_size"});
  DnsConfig c;
  for (const auto& ns : node.objects("nameservers")) {
    ns.allow_only({"address", "priority"});
    auto text = ns.string("address");
    auto ep = nameserver_endpoint(text);
    if (!ep)
      ns.fail("address",
              fmt::format("expected an IP address with an optional port, such as "
                          "192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53, found \"{}\"",
                          text));
    c.nameservers.push_back({*ep, static_cast<int>(ns.integer_or("priority", 0, -1000, 1000))});
  }
  c.timeout = node.seconds_or("timeout", 5, 0.01, 300);
  c.retries = static_cast<int>(node.integer_or("retries", 2, 0, 10));
  c.cache_size = static_cast<std::size_t>(node.integer_or("cache_size", 1000, 0, 10'000'000));
  return c;
}

}  // namespace postern::core
