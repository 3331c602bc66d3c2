// A Listener with the PROXY protocol over real loopback sockets: the service
// sees the header's client (and the balancer as `via`), and the session's
// first bytes after the header are intact.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "core/connection.hpp"
#include "core/listener.hpp"

using namespace postern::core;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

std::atomic<int> g_live{0};

// Says who it thinks the client is, then echoes lines.
class WhoSession : public Connection::Handler {
 public:
  WhoSession(EventLoop& loop, Accepted a)
      : ticket_(std::move(a.ticket)), conn_(loop, a.fd, a.peer, Connection::Options{}, this) {
    ++g_live;
    conn_.write("PEER " + a.peer.to_string() + " VIA " + (a.via ? a.via->to_string() : "none") +
                "\r\n");
  }
  ~WhoSession() override { --g_live; }
  void on_input(Connection& c) noexcept override {
    while (auto line = c.read_line(200, nullptr)) c.write("ECHO " + *line + "\r\n");
  }
  void on_closed(Connection& c, CloseReason) noexcept override {
    auto* self = this;
    c.loop().post([self] { delete self; });
  }

 private:
  std::unique_ptr<FlowControl::Ticket> ticket_;
  Connection conn_;
};

class WhoService : public Service {
 public:
  void accept(EventLoop& loop, Accepted a) override { new WhoSession(loop, std::move(a)); }
  std::string refusal(FlowVerdict) const override { return "BUSY\r\n"; }
};

struct ProxyRig {
  ListenerConfig config;
  WhoService service;
  std::unique_ptr<LoopThread> thread;
  std::unique_ptr<Listener> listener;
  std::uint16_t port = 0;

  explicit ProxyRig(bool proxy_protocol, const std::string& from = "127.0.0.0/8",
                    AccessRules access = {}) {
    config.name = "who";
    config.address = *Endpoint::parse("127.0.0.1:0");
    config.flow = std::make_shared<FlowControl>(FlowLimits{});
    config.access = std::move(access);
    config.proxy_protocol = proxy_protocol;
    config.proxy_protocol_from = *NetworkList::parse({from}, nullptr);
    config.proxy_protocol_timeout = 1s;
    thread = std::make_unique<LoopThread>();
    std::promise<std::uint16_t> bound;
    thread->loop().post([&] {
      listener = std::make_unique<Listener>(thread->loop(), config, service, "test", "l");
      bound.set_value(listener->bound_port());
    });
    port = bound.get_future().get();
  }
  ~ProxyRig() {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (g_live.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    std::promise<void> gone;
    thread->loop().post([&] {
      listener.reset();  // closes connections still waiting for a header
      gone.set_value();
    });
    gone.get_future().get();
    thread.reset();
  }
};

struct Client {
  int fd;
  explicit Client(std::uint16_t port) : fd(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { ::close(fd); }
  void send(const std::string& s) const {
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
  }
  std::string line() const {
    std::string out;
    char c;
    while (::read(fd, &c, 1) == 1) {
      if (c == '\n') return out;
      if (c != '\r') out += c;
    }
    return out.empty() ? "<closed>" : out;
  }
  std::uint16_t local_port() const {
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    return ntohs(sa.sin_port);
  }
};

std::string v2(std::uint8_t ver_cmd, std::uint8_t fam, const std::string& block) {
  std::string h = "\r\n\r\n\0\r\nQUIT\n"s;
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>(block.size() >> 8);
  h += static_cast<char>(block.size() & 0xff);
  return h + block;
}

// 198.51.100.20:40001 -> 127.0.0.1:110
const std::string kInet = "\xc6\x33\x64\x14\x7f\x00\x00\x01\x9c\x41\x00\x6e"s;

}  // namespace

TEST_CASE("listener proxy protocol: v1 and v2 give the client, the session's bytes intact") {
  ProxyRig rig(true);
  {
    Client c(rig.port);
    const std::string via = "127.0.0.1:" + std::to_string(c.local_port());
    c.send("PROXY TCP4 192.0.2.7 127.0.0.1 54321 110\r\nhello\r\n");
    CHECK(c.line() == "PEER 192.0.2.7:54321 VIA " + via);
    CHECK(c.line() == "ECHO hello");
  }
  {
    // v2 in two pieces, the second with the first line of the session.
    Client c(rig.port);
    const std::string header = v2(0x21, 0x11, kInet);
    c.send(header.substr(0, 10));
    std::this_thread::sleep_for(30ms);
    c.send(header.substr(10) + "PROXY is data now\r\n");
    CHECK(c.line() == "PEER 198.51.100.20:40001 VIA 127.0.0.1:" + std::to_string(c.local_port()));
    CHECK(c.line() == "ECHO PROXY is data now");
  }
  {
    // LOCAL (a health check): the balancer's own address, no via.
    Client c(rig.port);
    c.send(v2(0x20, 0x00, ""));
    CHECK(c.line() == "PEER 127.0.0.1:" + std::to_string(c.local_port()) + " VIA none");
  }
}

TEST_CASE("listener proxy protocol: garbage, an untrusted peer and a slow header are closed") {
  {
    ProxyRig rig(true);
    Client garbage(rig.port);
    garbage.send("USER alice\r\n");
    CHECK(garbage.line() == "<closed>");
    Client bad_v2(rig.port);
    bad_v2.send(v2(0x21, 0x11, kInet.substr(0, 11)));
    CHECK(bad_v2.line() == "<closed>");
    // Half a header, then the end of the stream: closed at once, not at the timeout.
    Client gone(rig.port);
    gone.send("PROXY TCP4 192.0.2.7");
    std::this_thread::sleep_for(20ms);
    shutdown(gone.fd, SHUT_WR);
    auto sent = std::chrono::steady_clock::now();
    CHECK(gone.line() == "<closed>");
    CHECK(std::chrono::steady_clock::now() - sent < 600ms);
    Client slow(rig.port);
    slow.send("PROXY TCP4 192.0.2.7");
    auto start = std::chrono::steady_clock::now();
    CHECK(slow.line() == "<closed>");
    CHECK(std::chrono::steady_clock::now() - start >= 900ms);
  }
  {
    ProxyRig rig(true, "10.0.0.0/8");
    Client c(rig.port);
    c.send("PROXY TCP4 192.0.2.7 127.0.0.1 54321 110\r\n");
    CHECK(c.line() == "<closed>");
  }
}

TEST_CASE("listener proxy protocol: access rules judge the header's client") {
  AccessRules deny({{false, *Network::parse("192.0.2.0/24")}});
  std::unique_ptr<Client> silent;  // outlives the listener
  ProxyRig rig(true, "127.0.0.0/8", deny);
  Client denied(rig.port);
  denied.send("PROXY TCP4 192.0.2.7 127.0.0.1 54321 110\r\n");
  CHECK(denied.line() == "<closed>");
  Client allowed(rig.port);
  allowed.send("PROXY TCP4 198.51.100.1 127.0.0.1 1 110\r\n");
  CHECK(allowed.line().starts_with("PEER 198.51.100.1:1 VIA "));
  // Still waiting for its header when the listener goes: closed with it.
  silent = std::make_unique<Client>(rig.port);
  silent->send("PROXY ");
  std::this_thread::sleep_for(20ms);
}

TEST_CASE("listener without proxy protocol: a PROXY line is the session's data") {
  ProxyRig rig(false);
  Client c(rig.port);
  c.send("PROXY TCP4 192.0.2.7 127.0.0.1 54321 110\r\n");
  CHECK(c.line() == "PEER 127.0.0.1:" + std::to_string(c.local_port()) + " VIA none");
  CHECK(c.line() == "ECHO PROXY TCP4 192.0.2.7 127.0.0.1 54321 110");
}

TEST_CASE("listener configuration: proxy_protocol keys") {
  auto parse = [](const std::string& text) {
    return ListenerConfig::from_config(parse_config_text(text, "l.json"), nullptr);
  };
  auto c = parse(R"({"name": "pop3", "address": "127.0.0.1:110", "proxy_protocol": true,
                     "proxy_protocol_from": ["10.0.0.0/8", "::1"], "proxy_protocol_timeout": 2})");
  CHECK(c.proxy_protocol);
  CHECK(c.proxy_protocol_from.contains(*IpAddress::parse("10.1.2.3")));
  CHECK(c.proxy_protocol_from.contains(*IpAddress::parse("::1")));
  CHECK_FALSE(c.proxy_protocol_from.contains(*IpAddress::parse("127.0.0.1")));
  CHECK(c.proxy_protocol_timeout == 2s);
  auto off = parse(R"({"name": "pop3", "address": "127.0.0.1:110"})");
  CHECK_FALSE(off.proxy_protocol);
  CHECK(off.proxy_protocol_timeout == 5s);

  auto error_of = [&](const std::string& text) -> std::string {
    try {
      parse(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of(R"({"name": "p", "address": "127.0.0.1:1", "proxy_protocol": true})")
            .find("proxy_protocol_from") != std::string::npos);
  CHECK(error_of(R"({"name": "p", "address": "127.0.0.1:1", "proxy_protocol": true,
                     "proxy_protocol_from": []})")
            .find("proxy_protocol_from") != std::string::npos);
  CHECK(error_of(R"({"name": "p", "address": "127.0.0.1:1", "proxy_protocol_from": ["10.0/x"]})")
            .find("10.0/x") != std::string::npos);
  CHECK(error_of(R"({"name": "p", "address": "127.0.0.1:1", "proxy_protocol": "yes",
                     "proxy_protocol_from": ["10.0.0.0/8"]})")
            .find("proxy_protocol") != std::string::npos);
}
