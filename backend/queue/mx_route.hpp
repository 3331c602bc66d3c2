// Where mail for a domain goes (RFC 5321 5.1): its MX hosts by preference,
// each host's addresses in order; no MX record but an address: the domain
// itself (implicit MX); a null MX (RFC 7505): nowhere. The answer is either
// the addresses to try or the outcome every recipient of the domain gets.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/queue/remote_transport.hpp"
#include "core/dns_resolver.hpp"
#include "core/net_address.hpp"

namespace postern::node::queue {

// What MX routing asks of DNS: core::DnsResolver in production
// (make_dns_mx_lookup), a fake in tests. Callbacks run on the caller's loop,
// never inline.
class MxLookup {
 public:
  virtual ~MxLookup() = default;
  virtual void mx(std::string_view domain,
                  std::function<void(core::DnsAnswer<core::MxRecord>)> done) = 0;
  virtual void addresses(std::string_view host,
                         std::function<void(core::DnsAnswer<core::IpAddress>)> done) = 0;
};

// An adapter over the resolver, which must outlive it (mx_lookup_dns.cpp).
std::shared_ptr<MxLookup> make_dns_mx_lookup(core::DnsResolver& resolver);

struct MxCandidate {
  std::string host;  // the MX host name (SNI, "host [ip]" in DSNs)
  core::IpAddress ip;
};

struct MxRoute {
  bool ok = false;
  std::vector<MxCandidate> candidates;  // ok: in the order to try
  RecipientOutcome failure;             // !ok: what every recipient gets
};

// Resolves `domain` (or an address literal "[192.0.2.1]") into at most
// `max_addresses` candidates. `done` runs once on `loop`, never inline; not at
// all if `lookup` is destroyed before the MX answer (callers guard theirs).
void resolve_mx_route(core::Executor& loop, const std::shared_ptr<MxLookup>& lookup,
                      std::string domain, std::size_t max_addresses,
                      std::function<void(MxRoute)> done);

}  // namespace postern::node::queue
