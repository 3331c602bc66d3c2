// Listener::check_free over real loopback sockets: an address another
// process listens on is refused before the loops bind it with SO_REUSEPORT
// (which would join that process's sockets and split its connections).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core/listener.hpp"

using namespace postern::core;

namespace {

// A listening socket as another Postern process would hold it.
struct OtherProcess {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::uint16_t port = 0;
  OtherProcess() {
    int one = 1;
    REQUIRE(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof sa;
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
  }
  ~OtherProcess() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Whether a socket with SO_REUSEPORT may bind 127.0.0.1:port (as each loop's does).
bool reuseport_bind_succeeds(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

TEST_CASE("listener: an address another process listens on is refused before binding") {
  OtherProcess other;
  ListenerConfig config;
  config.name = "imap";
  config.address = *Endpoint::parse("127.0.0.1:" + std::to_string(other.port));
  // What the check prevents: the loops' binds alone would join the other
  // process's port without an error.
  CHECK(reuseport_bind_succeeds(other.port));
  std::string error;
  try {
    Listener::check_free(config.address, "node.json", "listeners[2]");
  } catch (const ConfigError& e) {
    error = e.what();
  }
  CHECK(error == "node.json: listeners[2].address: cannot listen on 127.0.0.1:" +
                     std::to_string(other.port) + ": Address already in use");

  other.close();
  CHECK_NOTHROW(Listener::check_free(config.address, "node.json", "listeners[2]"));
}

TEST_CASE("listener: check_free names a host that is not an IP address") {
  ListenerConfig config;
  config.address = Endpoint{"mail.example", 143};
  CHECK_THROWS_WITH_AS(Listener::check_free(config.address, "proxy.json", "listeners[0]"),
                       "proxy.json: listeners[0].address: expected an IP address to listen on",
                       ConfigError);
}

TEST_CASE("listener: a wildcard overlapping another process's address is refused") {
  OtherProcess other;  // 127.0.0.1:port
  std::string error;
  try {
    Listener::check_free(*Endpoint::parse("0.0.0.0:" + std::to_string(other.port)), "node.json",
                         "admin");
  } catch (const ConfigError& e) {
    error = e.what();
  }
  CHECK(error == "node.json: admin.address: cannot listen on 0.0.0.0:" +
                     std::to_string(other.port) + ": Address already in use");
}
