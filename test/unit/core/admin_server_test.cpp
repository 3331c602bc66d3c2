#include "core/admin_server.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

using namespace postern::core;

namespace {

// A port that was free a moment ago (the server binds it right after).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// One HTTP/1.0 request; the whole answer.
std::string request(std::uint16_t port, const std::string& method, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  std::string text = method + " " + path + " HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
  REQUIRE(::send(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
  std::string answer;
  char buf[1024];
  ssize_t n = 0;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return answer;
}

}  // namespace

TEST_CASE("admin server: registered POST actions, and nothing else changes anything") {
  LoopThread thread;
  MetricsRegistry metrics;
  std::uint16_t port = free_port();
  std::atomic<int> flushes{0};
  std::unique_ptr<AdminServer> server;
  std::promise<void> ready;
  thread.loop().post([&] {
    server = std::make_unique<AdminServer>(thread.loop(), Endpoint{"127.0.0.1", port}, metrics,
                                           "node.json", "admin.address");
    server->add_action("/queue/flush", [&] {
      ++flushes;
      return std::string("flushing\n");
    });
    ready.set_value();
  });
  ready.get_future().wait();

  auto ok = request(port, "POST", "/queue/flush");
  CHECK(ok.rfind("HTTP/1.", 0) == 0);
  CHECK(ok.substr(8, 5) == " 200 ");
  CHECK(ok.find("flushing") != std::string::npos);
  CHECK(flushes == 1);
  CHECK(request(port, "GET", "/queue/flush").substr(8, 5) == " 405 ");
  CHECK(request(port, "POST", "/metrics").substr(8, 5) == " 404 ");
  CHECK(request(port, "POST", "/nothing").substr(8, 5) == " 404 ");
  CHECK(request(port, "GET", "/health").substr(8, 5) == " 200 ");
  CHECK(flushes == 1);

  std::promise<void> gone;
  thread.loop().post([&] {
    server.reset();
    gone.set_value();
  });
  gone.get_future().wait();
}
