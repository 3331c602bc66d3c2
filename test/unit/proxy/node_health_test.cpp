// NodeHealth against real loopback sockets: a node whose port listens comes
// back after a failure; one whose port is closed stays down.
#include "proxy/node_health.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

using namespace postern;
using namespace std::chrono_literals;

namespace {

// A TCP socket bound to 127.0.0.1 on a free port; listening or not.
struct LoopbackPort {
  int fd = -1;
  std::uint16_t port = 0;
  explicit LoopbackPort(bool listening) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    if (listening) REQUIRE(::listen(fd, 16) == 0);
  }
  ~LoopbackPort() { ::close(fd); }
  proxy::NodeEndpoints node(const std::string& name) const {
    proxy::NodeEndpoints n;
    n.name = name;
    n.services["imap"] = *core::Endpoint::parse("127.0.0.1:" + std::to_string(port));
    return n;
  }
};

// Runs `f` on the loop and waits for it.
void on_loop(core::LoopThread& t, std::function<void()> f) {
  std::promise<void> done;
  t.loop().post([&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = 3s) {
  const auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

bool renders(const core::MetricsRegistry& r, const std::string& line) {
  return r.render().find(line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("node health: failures mark down, probes bring back only a node that answers") {
  LoopbackPort listening(true);
  // Bound but not listening: a connect is refused, and no one else gets the port.
  LoopbackPort closed(false);
  core::MetricsRegistry metrics;
  core::LoopThread thread;
  auto health = std::make_unique<proxy::NodeHealth>(proxy::HealthConfig{50ms, 200ms}, metrics);
  health->set_nodes({{"node1", listening.node("node1")}, {"node2", closed.node("node2")}});
  CHECK(health->is_up("node1"));
  CHECK(health->is_up("node2"));
  CHECK(health->is_up("unknown"));
  CHECK(renders(metrics, "postern_proxy_node_up{node=\"node2\"} 1"));
  on_loop(thread, [&] { health->start(thread.loop()); });

  health->report_failure("node1", "connect timed out");
  health->report_failure("node2", "Connection refused");
  health->report_failure("node2", "Connection refused");  // already down: no second transition
  CHECK_FALSE(health->is_up("node2"));
  CHECK(renders(metrics, "postern_proxy_node_up{node=\"node2\"} 0"));

  CHECK(eventually([&] { return health->is_up("node1"); }));
  CHECK(renders(metrics, "postern_proxy_node_up{node=\"node1\"} 1"));
  std::this_thread::sleep_for(300ms);  // several probe intervals
  CHECK_FALSE(health->is_up("node2"));
  CHECK(renders(metrics, "postern_proxy_node_up{node=\"node2\"} 0"));

  // A successful hand-off marks it up at once.
  health->report_success("node2");
  CHECK(health->is_up("node2"));

  // A reload keeps known nodes' state and forgets the rest.
  health->report_failure("node2", "greeting timed out");
  health->set_nodes({{"node2", closed.node("node2")}});
  CHECK_FALSE(health->is_up("node2"));
  health->report_failure("node1", "x");
  CHECK(health->is_up("node1"));  // no longer configured: counts as up

  on_loop(thread, [&] { health.reset(); });
}

TEST_CASE("node health: stop() cancels probes in flight") {
  LoopbackPort closed(false);
  core::MetricsRegistry metrics;
  core::LoopThread thread;
  proxy::NodeHealth health(proxy::HealthConfig{10ms, 1000ms}, metrics);
  health.set_nodes({{"node1", closed.node("node1")}});
  health.report_failure("node1", "refused");
  on_loop(thread, [&] { health.start(thread.loop()); });
  std::this_thread::sleep_for(50ms);
  on_loop(thread, [&] { health.stop(); });
  CHECK_FALSE(health.is_up("node1"));
}
