// posternctl's DNS and SPF commands, with the node's own resolver settings
// (the "dns" object of its file), for operators and the integration tests:
//
//   posternctl -c NODECONF dns [--repeat N] [--pause SECONDS] mx|txt|a|aaaa|ptr NAME
//   posternctl -c NODECONF spf CLIENT_IP SENDER [HELO]
//
// Each runs one core::EventLoop with one core::DnsResolver until the answer
// arrives (bounded by the resolver's timeouts and retries).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "core/dns_resolver.hpp"

namespace postern::tools {

// Prints one record per line on `out` (MX as "PREFERENCE HOST", PTR's NAME
// is an address). Exit 0 found, 67 NXDOMAIN/NODATA, 75 temporary failure,
// 64 bad arguments. --repeat N asks N times in the same process, --pause
// seconds apart; each answer is then preceded by ";; answer K: from cache"
// or ";; answer K: from nameserver", so the cache can be seen at work.
int run_dns(const core::DnsConfig& config, const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err);

// Prints the Received-SPF header (continuation lines start with a space; the
// problem of an error and the explanation of a fail go to `err`) and
// exits 0, or 75 if no verdict came in time. An empty SENDER is the null
// sender (HELO needed); HELO defaults to SENDER's domain.
int run_spf(const core::DnsConfig& config, const std::string& receiver,
            const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace postern::tools
