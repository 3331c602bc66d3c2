// check_spf() without a real nameserver: the answers that need none (a
// malformed identity) and the one a dead nameserver gives (temperror). The
// evaluation against records is tested with dnsmasq in test_dns.py.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/smtp/spf.hpp"

using namespace postern;
using namespace postern::node::smtp;

namespace {

// A bound UDP port that never answers.
struct SilentPort {
  SilentPort() {
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
  }
  ~SilentPort() { close(fd); }
  int fd = -1;
  std::uint16_t port = 0;
};

SpfVerdict run(const SpfRequest& req, std::uint16_t port) {
  core::EventLoop loop;
  core::DnsConfig config;
  config.nameservers.push_back({core::Endpoint{"127.0.0.1", port}, 0});
  config.timeout = std::chrono::milliseconds(100);
  config.retries = 0;
  core::DnsResolver resolver(loop, config);
  SpfVerdict out;
  bool returned = false;
  check_spf(resolver, req, [&](SpfVerdict v) {
    CHECK(returned);  // never inline
    out = v;
    loop.stop();
  });
  returned = true;
  loop.run();
  return out;
}

}  // namespace

TEST_CASE("SPF of a single-label or malformed domain is none, answered later") {
  SilentPort ns;
  SpfRequest req;
  req.client = *core::IpAddress::parse("192.0.2.1");
  req.sender = "bob@localhost";
  req.helo = "localhost";
  auto v = run(req, ns.port);
  CHECK(v.result == SpfResult::None);
  CHECK(v.domain == "localhost");
  req.sender = "";  // the null sender: the HELO identity
  req.helo = "a..b";
  CHECK(run(req, ns.port).result == SpfResult::None);
}

TEST_CASE("SPF is temperror when the nameserver does not answer") {
  SilentPort ns;
  SpfRequest req;
  req.client = *core::IpAddress::parse("192.0.2.1");
  req.sender = "bob@example.org";
  auto v = run(req, ns.port);
  CHECK(v.result == SpfResult::TempError);
  CHECK(v.domain == "example.org");
  CHECK(v.problem.find("example.org") != std::string::npos);
  CHECK(spf_result_name(v.result) == "temperror");
}
