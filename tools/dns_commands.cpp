#include "tools/dns_commands.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ostream>

#include "backend/smtp/spf.hpp"
#include "core/event_loop.hpp"
#include "tools/exit_codes.hpp"

namespace postern::tools {
namespace {

using core::DnsStatus;

struct Reply {
  DnsStatus status = DnsStatus::TempFail;
  std::vector<std::string> lines;
  std::string detail;
};

template <class T, class Format>
auto collect(std::function<void(Reply)> done, Format format) {
  return [done = std::move(done), format](core::DnsAnswer<T> a) {
    Reply r{a.status, {}, a.detail};
    for (const auto& rec : a.records) r.lines.push_back(format(rec));
    done(std::move(r));
  };
}

// Starts one query of `type`; false when the type is not one we know.
bool ask(core::DnsResolver& resolver, const std::string& type, const std::string& name,
         std::function<void(Reply)> done) {
  auto same = [](const std::string& s) { return s; };
  auto ip = [](const core::IpAddress& a) { return a.to_string(); };
  if (type == "mx") {
    resolver.mx(name, collect<core::MxRecord>(std::move(done), [](const core::MxRecord& m) {
                  return fmt::format("{} {}", m.preference, m.host.empty() ? "." : m.host);
                }));
  } else if (type == "txt") {
    resolver.txt(name, collect<std::string>(std::move(done), same));
  } else if (type == "a") {
    resolver.a(name, collect<core::IpAddress>(std::move(done), ip));
  } else if (type == "aaaa") {
    resolver.aaaa(name, collect<core::IpAddress>(std::move(done), ip));
  } else if (type == "ptr") {
    auto addr = core::IpAddress::parse(name);
    if (!addr) return false;
    resolver.ptr(*addr, collect<std::string>(std::move(done), same));
  } else {
    return false;
  }
  return true;
}

// Long enough for every attempt on every nameserver, plus slack.
std::chrono::milliseconds deadline(const core::DnsConfig& c) {
  auto servers = std::max<std::size_t>(1, c.nameservers.size());
  return c.timeout * static_cast<long>((c.retries + 1) * servers) * 2 + std::chrono::seconds(5);
}

int exit_code(const Reply& r) {
  switch (r.status) {
    case DnsStatus::Ok:
      return kExitOk;
    case DnsStatus::NoData:
    case DnsStatus::NxDomain:
      return kExitNoUser;
    case DnsStatus::BadName:
      return kExitUsage;
    case DnsStatus::TempFail:
      return kExitTempFail;
  }
  return kExitSoftware;
}

}  // namespace

int run_dns(const core::DnsConfig& config, const std::vector<std::string>& args, std::ostream& out,
            std::ostream& err) {
  int repeat = 1;
  double pause = 0;
  std::size_t i = 0;
  try {
    for (; i + 1 < args.size() && args[i].starts_with("--"); i += 2) {
      if (args[i] == "--repeat")
        repeat = std::stoi(args[i + 1]);
      else if (args[i] == "--pause")
        pause = std::stod(args[i + 1]);
      else
        break;
    }
  } catch (const std::exception&) {
    repeat = 0;
  }
  if (args.size() != i + 2 || repeat < 1 || repeat > 100 || pause < 0 || pause > 3600) {
    err << "posternctl: dns takes [--repeat N] [--pause SECONDS] mx|txt|a|aaaa|ptr NAME\n";
    return kExitUsage;
  }
  const auto& type = args[i];
  const auto& name = args[i + 1];

  core::EventLoop loop;
  int code = kExitTempFail;
  {
    core::DnsResolver resolver(loop, config);
    core::Timer overall(loop, [&] {
      err << "posternctl: dns: no answer in time\n";
      code = kExitTempFail;
      loop.stop();
    });
    int round = 0;
    std::uint64_t hits_before = 0;
    std::function<void()> next;
    core::Timer between(loop, [&] { next(); });
    std::function<void(Reply)> on_reply = [&](Reply r) {
      ++round;
      if (repeat > 1) {
        bool cached = resolver.stats().cache_hits > hits_before;
        out << fmt::format(";; answer {}: from {}\n", round, cached ? "cache" : "nameserver");
      }
      code = exit_code(r);
      if (code == kExitOk) {
        for (const auto& line : r.lines) out << line << "\n";
      } else {
        err << fmt::format("posternctl: dns: {} {}: {} ({})\n", type, name,
                           dns_status_name(r.status), r.detail);
      }
      out.flush();
      if (round >= repeat) return loop.stop();
      between.arm(std::chrono::milliseconds(static_cast<long>(pause * 1000)));
    };
    next = [&] {
      hits_before = resolver.stats().cache_hits;
      if (!ask(resolver, type, name, on_reply)) {
        err << "posternctl: dns: unknown type '" << type << "' (or PTR of a non-address)\n";
        code = kExitUsage;
        loop.stop();
      }
    };
    auto pause_ms = std::chrono::milliseconds(static_cast<long>(pause * 1000));
    overall.arm((deadline(config) + pause_ms) * repeat);
    loop.post(next);
    loop.run();
  }
  return code;
}

int run_spf(const core::DnsConfig& config, const std::string& receiver,
            const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.size() < 2 || args.size() > 3) {
    err << "posternctl: spf takes CLIENT_IP SENDER [HELO]\n";
    return kExitUsage;
  }
  auto client = core::IpAddress::parse(args[0]);
  if (!client) {
    err << "posternctl: spf: not an IP address: " << args[0] << "\n";
    return kExitUsage;
  }
  node::smtp::SpfRequest request;
  request.client = *client;
  request.sender = args[1];
  auto at = request.sender.rfind('@');
  request.helo = args.size() == 3          ? args[2]
                 : at == std::string::npos ? std::string()
                                           : request.sender.substr(at + 1);
  request.receiver = receiver;
  if (request.sender.empty() && request.helo.empty()) {
    err << "posternctl: spf: the null sender needs a HELO name\n";
    return kExitUsage;
  }

  core::EventLoop loop;
  int code = kExitTempFail;
  {
    core::DnsResolver resolver(loop, config);
    core::Timer overall(loop, [&] {
      err << "posternctl: spf: no verdict in time\n";
      loop.stop();
    });
    // SPF may take up to about 20 lookups one after the other.
    overall.arm(deadline(config) * 20);
    node::smtp::check_spf(resolver, request, [&](node::smtp::SpfVerdict v) {
      auto header = node::smtp::received_spf_header(request, v);
      // Folded with CRLF in mail; one line per fold on a terminal.
      std::string text;
      for (char c : header)
        if (c != '\r') text.push_back(c);
      out << text << "\n";
      if (!v.problem.empty()) err << "posternctl: spf: " << v.problem << "\n";
      if (!v.explanation.empty()) err << "posternctl: spf: explanation: " << v.explanation << "\n";
      code = kExitOk;
      loop.stop();
    });
    loop.run();
  }
  return code;
}

}  // namespace postern::tools
