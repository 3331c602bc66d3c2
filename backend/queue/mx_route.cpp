#include "backend/queue/mx_route.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace postern::node::queue {

namespace {

using Status = RecipientOutcome::Status;

// A domain with more MX hosts than this is tried on its best ones only.
constexpr std::size_t kMaxMxHosts = 10;

MxRoute failure(Status status, std::string reply) {
  MxRoute r;
  r.failure.status = status;
  r.failure.reply = std::move(reply);
  return r;
}

MxRoute temp_dns(const std::string& what, const std::string& detail) {
  return failure(Status::TempFail, fmt::format("451 4.4.3 DNS lookup of {} failed temporarily{}{}",
                                               what, detail.empty() ? "" : ": ", detail));
}

MxRoute host_unknown(const std::string& domain) {
  return failure(Status::PermFail,
                 fmt::format("550 5.1.2 host unknown: {} has no MX and no address record", domain));
}

// Address answers for the MX hosts, collected until the last one is in.
struct HostAnswers {
  std::string domain;
  std::size_t max_addresses = 0;
  std::vector<std::string> hosts;
  std::vector<core::DnsAnswer<core::IpAddress>> answers;
  std::size_t pending = 0;
  std::function<void(MxRoute)> done;

  MxRoute route() const {
    MxRoute r;
    bool temp = false;
    std::string detail;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      const auto& a = answers[i];
      if (a.status == core::DnsStatus::TempFail) {
        temp = true;
        detail = a.detail;
      }
      if (a.status != core::DnsStatus::Ok) continue;
      for (const auto& ip : a.records) {
        bool seen = std::any_of(r.candidates.begin(), r.candidates.end(),
                                [&](const MxCandidate& c) { return c.ip == ip; });
        if (!seen && r.candidates.size() < max_addresses) r.candidates.push_back({hosts[i], ip});
      }
    }
    if (!r.candidates.empty()) {
      r.ok = true;
      return r;
    }
    if (temp) return temp_dns("the MX hosts of " + domain, detail);
    return failure(Status::PermFail,
                   fmt::format("550 5.4.4 no address for the MX hosts of {}", domain));
  }
};

void resolve_hosts(const std::shared_ptr<MxLookup>& lookup, std::shared_ptr<HostAnswers> state) {
  state->answers.resize(state->hosts.size());
  state->pending = state->hosts.size();
  for (std::size_t i = 0; i < state->hosts.size(); ++i) {
    lookup->addresses(state->hosts[i], [state, i](core::DnsAnswer<core::IpAddress> answer) {
      state->answers[i] = std::move(answer);
      if (--state->pending == 0) state->done(state->route());
    });
  }
}

// "[192.0.2.1]" / "[IPv6:2001:db8::1]": no DNS at all (RFC 5321 4.1.3).
std::optional<core::IpAddress> address_literal(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  std::string_view inner = domain.substr(1, domain.size() - 2);
  if (inner.size() > 5 && (inner.substr(0, 5) == "IPv6:" || inner.substr(0, 5) == "ipv6:"))
    inner.remove_prefix(5);
  return core::IpAddress::parse(inner);
}

}  // namespace

void resolve_mx_route(core::Executor& loop, const std::shared_ptr<MxLookup>& lookup,
                      std::string domain, std::size_t max_addresses,
                      std::function<void(MxRoute)> done) {
  std::transform(domain.begin(), domain.end(), domain.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  if (auto ip = address_literal(domain)) {
    MxRoute r;
    r.ok = true;
    r.candidates.push_back({ip->to_string(), *ip});
    loop.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    return;
  }
  std::weak_ptr<MxLookup> weak = lookup;
  lookup->mx(domain, [weak, domain, max_addresses,
                      done = std::move(done)](core::DnsAnswer<core::MxRecord> answer) mutable {
    auto alive = weak.lock();
    if (!alive) return;
    auto state = std::make_shared<HostAnswers>();
    state->domain = domain;
    state->max_addresses = max_addresses;
    switch (answer.status) {
      case core::DnsStatus::Ok: {
        // RFC 7505: a null MX ("." ) says the domain takes no mail.
        bool null_mx = std::any_of(answer.records.begin(), answer.records.end(),
                                   [](const core::MxRecord& m) { return m.host.empty(); });
        if (null_mx) {
          done(failure(Status::PermFail,
                       fmt::format("556 5.1.10 {} does not accept mail (null MX)", domain)));
          return;
        }
        std::stable_sort(answer.records.begin(), answer.records.end(),
                         [](const auto& a, const auto& b) { return a.preference < b.preference; });
        for (const auto& m : answer.records) {
          if (state->hosts.size() == kMaxMxHosts) break;
          if (std::find(state->hosts.begin(), state->hosts.end(), m.host) == state->hosts.end())
            state->hosts.push_back(m.host);
        }
        state->done = std::move(done);
        resolve_hosts(alive, state);
        return;
      }
      case core::DnsStatus::NoData: {
        // No MX: the domain itself is the only host (implicit MX, RFC 5321
        // 5.1), but a name without any address is unknown, not "try later".
        state->hosts.push_back(domain);
        state->done = [domain, done = std::move(done)](MxRoute r) {
          if (!r.ok && r.failure.status == Status::PermFail) r = host_unknown(domain);
          done(std::move(r));
        };
        resolve_hosts(alive, state);
        return;
      }
      case core::DnsStatus::NxDomain:
      case core::DnsStatus::BadName:
        done(host_unknown(domain));
        return;
      case core::DnsStatus::TempFail:
        done(temp_dns("MX " + domain, answer.detail));
        return;
    }
  });
}

}  // namespace postern::node::queue
