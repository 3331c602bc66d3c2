// SPF (RFC 7208): is this client allowed to send mail for this domain?
// check_host() evaluated asynchronously over core::DnsResolver, with the RFC's
// limits (10 DNS-querying terms, 2 void lookups, 10 MX/PTR names per term)
// and the macros of section 7. The SMTP server checks the MAIL FROM domain (or
// the HELO domain for the null sender) and records the result in a
// Received-SPF header (section 9.1).
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "core/dns_resolver.hpp"
#include "core/net_address.hpp"

namespace postern::node::smtp {

enum class SpfResult { None, Neutral, Pass, Fail, SoftFail, TempError, PermError };
// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"
std::string_view spf_result_name(SpfResult r);

struct SpfRequest {
  core::IpAddress client;
  std::string sender;    // MAIL FROM address, "" for the null sender
  std::string helo;      // HELO/EHLO domain
  std::string receiver;  // this node's host name, for the %{r} macro and the header
};

struct SpfVerdict {
  SpfResult result = SpfResult::None;
  std::string domain;       // the domain checked (sender's, or the HELO's)
  std::string mechanism;    // the term that matched, e.g. "ip4:192.0.2.0/24"; "" if none
  std::string explanation;  // for a Fail: the exp= text or a default, for the 550 reply
  std::string problem;      // for TempError/PermError: what went wrong, for logs
};

// Evaluates SPF for `request` on `resolver`'s loop; `done` runs there, once,
// never inline. A caller that may be gone captures a weak handle.
void check_spf(core::DnsResolver& resolver, SpfRequest request,
               std::function<void(SpfVerdict)> done);

// The header line, without the trailing CRLF:
//   Received-SPF: pass (node1.example.com: domain of bob@example.org designates
//    192.0.2.1 as permitted sender) client-ip=192.0.2.1;
//    envelope-from="bob@example.org"; helo=mx.example.org; receiver=node1.example.com;
// folded with CRLF + space where long.
std::string received_spf_header(const SpfRequest& request, const SpfVerdict& verdict);

}  // namespace postern::node::smtp
