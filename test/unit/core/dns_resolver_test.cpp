// The resolver against a fake nameserver on the same loop: a UDP socket that
// answers every A query with 192.0.2.7 (TTL 300), or stays silent.
#include <doctest/doctest.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/dns_resolver.hpp"
#include "core/event_loop.hpp"

using namespace postern::core;

namespace {

struct FakeNameserver {
  explicit FakeNameserver(EventLoop& loop) {
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    ev.reset(event_new(loop.base(), fd, EV_READ | EV_PERSIST, &on_query, this));
    event_add(ev.get(), nullptr);
  }
  ~FakeNameserver() {
    ev.reset();
    close(fd);
  }
  static void on_query(evutil_socket_t fd, short, void* arg) {
    auto* self = static_cast<FakeNameserver*>(arg);
    unsigned char q[512];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    auto n = recvfrom(fd, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 12) return;
    ++self->received;
    if (self->silent) return;
    std::vector<unsigned char> r(q, q + n);
    r[2] = 0x85, r[3] = 0x80;  // response, authoritative, recursion desired/available
    r[6] = 0, r[7] = 1;        // one answer
    r[8] = r[9] = r[10] = r[11] = 0;
    unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 7};
    r.insert(r.end(), rr, rr + sizeof rr);
    sendto(fd, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
  int fd = -1;
  std::uint16_t port = 0;
  EventPtr ev;
  bool silent = false;
  int received = 0;
};

DnsConfig config_for(std::uint16_t port) {
  DnsConfig c;
  c.nameservers.push_back({Endpoint{"127.0.0.1", port}, 10});
  c.timeout = std::chrono::milliseconds(200);
  c.retries = 0;
  return c;
}

}  // namespace

TEST_CASE("resolver answers, caches by TTL and never calls back inline") {
  EventLoop loop;
  FakeNameserver ns(loop);
  DnsResolver resolver(loop, config_for(ns.port));
  std::vector<DnsAnswer<IpAddress>> answers;
  bool returned = false;
  resolver.a("Host.Example.", [&](DnsAnswer<IpAddress> a) {
    CHECK(returned);
    answers.push_back(a);
    resolver.a("host.example", [&](DnsAnswer<IpAddress> b) {
      answers.push_back(b);
      loop.stop();
    });
  });
  returned = true;
  loop.run();
  REQUIRE(answers.size() == 2);
  for (const auto& a : answers) {
    CHECK(a.status == DnsStatus::Ok);
    REQUIRE(a.records.size() == 1);
    CHECK(a.records[0].to_string() == "192.0.2.7");
  }
  CHECK(ns.received == 1);
  CHECK(resolver.stats().queries == 1);
  CHECK(resolver.stats().cache_hits == 1);
}

TEST_CASE("a bad name is answered BadName, later, without a query") {
  EventLoop loop;
  FakeNameserver ns(loop);
  DnsResolver resolver(loop, config_for(ns.port));
  bool returned = false;
  DnsStatus status = DnsStatus::Ok;
  resolver.txt("bad..name", [&](DnsAnswer<std::string> a) {
    CHECK(returned);
    status = a.status;
    loop.stop();
  });
  returned = true;
  loop.run();
  CHECK(status == DnsStatus::BadName);
  CHECK(ns.received == 0);
}

TEST_CASE("a silent nameserver gives TempFail after the timeout") {
  EventLoop loop;
  FakeNameserver ns(loop);
  ns.silent = true;
  DnsResolver resolver(loop, config_for(ns.port));
  auto start = std::chrono::steady_clock::now();
  DnsStatus status = DnsStatus::Ok;
  resolver.mx("example.com", [&](DnsAnswer<MxRecord> a) {
    status = a.status;
    loop.stop();
  });
  loop.run();
  CHECK(status == DnsStatus::TempFail);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(150));
}

TEST_CASE("destroying the resolver drops pending callbacks") {
  EventLoop loop;
  FakeNameserver ns(loop);
  ns.silent = true;
  bool called = false;
  {
    DnsResolver resolver(loop, config_for(ns.port));
    resolver.a("example.com", [&](DnsAnswer<IpAddress>) { called = true; });
    resolver.a("bad..name", [&](DnsAnswer<IpAddress>) { called = true; });  // posted, not run
  }
  Timer t(loop, [&] { loop.stop(); });
  t.arm(std::chrono::milliseconds(400));
  loop.run();
  CHECK_FALSE(called);
}

TEST_CASE("DnsConfig reads the dns object and names the bad key") {
  auto c = DnsConfig::from_config(parse_config_text(
      R"({"nameservers": [{"address": "127.0.0.1:5353", "priority": 10},
                          {"address": "::1"}, {"address": "192.0.2.53"}],
          "timeout": 1.5, "retries": 3, "cache_size": 50})",
      "node.json"));
  REQUIRE(c.nameservers.size() == 3);
  CHECK(c.nameservers[0].address.port == 5353);
  CHECK(c.nameservers[0].priority == 10);
  CHECK(c.nameservers[1].address.host == "::1");
  CHECK(c.nameservers[1].address.port == 53);
  CHECK(c.nameservers[2].priority == 0);
  CHECK(c.timeout == std::chrono::milliseconds(1500));
  CHECK(c.retries == 3);
  CHECK(c.cache_size == 50);

  auto defaults = DnsConfig::from_config(parse_config_text("{}", "node.json"));
  CHECK(defaults.nameservers.empty());
  CHECK(defaults.timeout == std::chrono::milliseconds(5000));

  auto error_of = [](const char* text) -> std::string {
    try {
      DnsConfig::from_config(parse_config_text(text, "node.json"));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of(R"({"nameservers": [{"address": "ns1.example.com"}]})")
            .find("node.json: nameservers") != std::string::npos);
  CHECK(error_of(R"({"retries": 99})").find("retries") != std::string::npos);
  CHECK(error_of(R"({"timout": 1})").find("timout") != std::string::npos);
}
