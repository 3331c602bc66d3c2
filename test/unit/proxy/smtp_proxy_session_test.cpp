// An SMTP proxy session end to end, without processes: the client over a
// socketpair (from 192.0.2.10, which the integration tests cannot be), an
// answering fake directory, and a scripted fake node on a loopback port that
// records every line the proxy sends it.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "proxy/proxy_service.hpp"

namespace postern::proxy {
namespace {

// bob, carol and alice live on node1; "right" is every password.
class AnsweringDirectory final : public mapping::Directory {
 public:
  void lookup(std::string_view login, core::Executor& reply,
              mapping::LookupCallback done) override {
    mapping::LookupResult r;
    std::string who(login);
    {
      std::lock_guard lock(mutex_);
      looked_up_.push_back(who);
    }
    if (who == "bob@example.com" || who == "carol@example.com" || who == "alice@example.com") {
      r.status = mapping::LookupStatus::Found;
      r.account.address = who;
      r.account.node = "node1";
    } else if (who == "slow@example.com") {
      r.status = mapping::LookupStatus::TempFail;
    } else {
      r.status = mapping::LookupStatus::NotFound;
    }
    reply.post([done, r] { done(r); });
  }
  void authenticate(std::string_view login, core::Secret password, core::Executor& reply,
                    mapping::AuthCallback done) override {
    mapping::AuthResult r;
    r.account.address = std::string(login);
    r.account.node = "node1";
    if (password.reveal() == "right") {
      r.status = mapping::AuthStatus::Ok;
    } else {
      r.status = mapping::AuthStatus::Denied;
      r.reason = mapping::DenyReason::WrongPassword;
    }
    reply.post([done, r] { done(r); });
  }
  void is_member(std::string_view, std::string_view, core::Executor& reply,
                 mapping::MembershipCallback done) override {
    reply.post([done] { done(mapping::MembershipResult{}); });
  }
  std::vector<std::string> looked_up() {
    std::lock_guard lock(mutex_);
    return looked_up_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> looked_up_;
};

int listen_loopback(std::uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// A node that answers one connection line by line through `answer` (an
// empty answer sends nothing; "<close>" hangs up), recording what it got.
class FakeNode {
 public:
  using Answer = std::function<std::string(const std::string& line)>;

  explicit FakeNode(Answer answer, std::string greeting = "220 node1 ESMTP Postern\r\n")
      : listen_fd_(listen_loopback(port_)) {
    thread_ = std::thread([this, answer = std::move(answer), greeting] {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) return;
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      timeval tv{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      write_all(fd, greeting);
      std::string line;
      char c;
      while (::read(fd, &c, 1) == 1) {
        if (c != '\n') {
          line += c;
          continue;
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        {
          std::lock_guard lock(mutex_);
          lines_.push_back(line);
        }
        std::string out = answer(line);
        line.clear();
        if (out == "<close>") break;
        write_all(fd, out);
      }
      ::close(fd);
    });
  }
  ~FakeNode() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  // Waits (briefly) until the node has received `n` lines.
  std::vector<std::string> wait_lines(std::size_t n) {
    for (int i = 0; i < 500 && lines().size() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return lines();
  }

 private:
  static void write_all(int fd, const std::string& s) {
    if (!s.empty()) (void)!::write(fd, s.data(), s.size());
  }
  std::uint16_t port_ = 0;
  int listen_fd_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// What a Postern node says to a trusted proxy.
std::string node_answer(const std::string& line, bool xclient = true) {
  if (line.rfind("EHLO proxy.example.com", 0) == 0)
    return xclient ? "250-node1\r\n250-PIPELINING\r\n250-XCLIENT NAME ADDR PORT PROTO HELO "
                     "LOGIN\r\n250 ENHANCEDSTATUSCODES\r\n"
                   : "250-node1\r\n250 ENHANCEDSTATUSCODES\r\n";
  if (line.rfind("XCLIENT ", 0) == 0) return "220 node1 ESMTP Postern\r\n";
  if (line.rfind("EHLO ", 0) == 0) return "250-node1\r\n250 ENHANCEDSTATUSCODES\r\n";
  if (line.rfind("HELO ", 0) == 0) return "250 node1\r\n";
  if (line.rfind("MAIL ", 0) == 0) return "250 2.1.0 Ok\r\n";
  if (line.rfind("RCPT TO:<nobody", 0) == 0) return "550 5.1.1 node says no\r\n";
  if (line.rfind("RCPT ", 0) == 0) return "250 2.1.5 Ok node1\r\n";
  if (line == "DATA") return "354 go\r\n";
  if (line == "QUIT") return "<close>";
  return "500 5.5.2 what\r\n";
}

class Harness {
 public:
  Harness(const std::string& protocol, std::uint16_t node_port, int max_bad_commands = 20,
          bool verify_credentials = true) {
    core::set_log_level(core::LogLevel::Warn);
    auto config = std::make_shared<ProxyConfig>();
    config->connect_timeout = std::chrono::milliseconds(2000);
    config->verify_credentials = verify_credentials;
    config->smtp.hostname = "proxy.example.com";
    config->smtp.local_domains = {"example.com"};
    config->smtp.primary_domain = "example.com";
    config->smtp.max_message_size = 1000;
    NodeEndpoints node;
    node.name = "node1";
    core::Endpoint ep{"127.0.0.1", node_port};
    node.services = {{"smtp", ep}, {"submission", ep}};
    config->nodes["node1"] = node;
    auto gen = std::make_shared<Generation>();
    gen->config = config;
    gen->directory = directory_;
    ThrottleConfig throttle;
    throttle.base_delay = std::chrono::milliseconds(1);
    throttle.max_delay = std::chrono::milliseconds(5);
    throttle_ = std::make_unique<LoginThrottle>(throttle);
    health_ = std::make_unique<NodeHealth>(HealthConfig{}, metrics_);
    health_->set_nodes(config->nodes);
    ctx_ = std::make_unique<ProxyContext>(gen, *health_, *throttle_, metrics_);
    service_ = std::make_unique<ProxyService>(*ctx_, protocol);
    listener_.name = protocol;
    listener_.protocol = protocol;
    listener_.allow_plaintext_auth = true;
    listener_.errors.max_bad_commands = max_bad_commands;
    listener_.errors.max_failed_logins = 3;
  }
  ~Harness() {
    if (client_ >= 0) ::close(client_);
    on_loop([this] { service_->close_all(loop_->loop()); });
    loop_.reset();
    core::set_log_level(saved_level_);
  }

  std::string connect() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    client_ = fds[0];
    timeval tv{5, 0};
    setsockopt(client_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    core::Accepted a;
    a.fd = fds[1];
    a.peer.ip = *core::IpAddress::parse("192.0.2.10");
    a.peer.port = 40000;
    a.listener = &listener_;
    auto shared = std::make_shared<core::Accepted>(std::move(a));
    on_loop([this, shared] { service_->accept(loop_->loop(), std::move(*shared)); });
    return reply();
  }
  void send(const std::string& text) {
    REQUIRE(::write(client_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }
  // One whole reply, every line, up to "ddd text"; "<eof>" when the proxy hung up.
  std::string reply() {
    std::string out;
    std::string l;
    char c;
    while (::read(client_, &c, 1) == 1) {
      l += c;
      if (c != '\n') continue;
      out += l;
      if (l.size() < 4 || l[3] != '-') return out;
      l.clear();
    }
    return out + l + "<eof>";
  }
  std::string command(const std::string& text) {
    send(text + "\r\n");
    return reply();
  }
  AnsweringDirectory& directory() { return *directory_; }

 private:
  void on_loop(std::function<void()> fn) {
    std::promise<void> done;
    loop_->loop().post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  core::LogLevel saved_level_ = core::log_level();
  std::shared_ptr<AnsweringDirectory> directory_ = std::make_shared<AnsweringDirectory>();
  core::MetricsRegistry metrics_;
  std::unique_ptr<LoginThrottle> throttle_;
  std::unique_ptr<NodeHealth> health_;
  std::unique_ptr<ProxyContext> ctx_;
  std::unique_ptr<ProxyService> service_;
  core::ListenerConfig listener_;
  std::unique_ptr<core::LoopThread> loop_ = std::make_unique<core::LoopThread>();
  int client_ = -1;
};

// A port nobody listens on.
std::uint16_t closed_port() {
  std::uint16_t port = 0;
  ::close(listen_loopback(port));
  return port;
}

}  // namespace

TEST_CASE("smtp proxy session: answers before routing like the node") {
  Harness h("smtp", closed_port());
  CHECK(h.connect() == "220 proxy.example.com ESMTP Postern\r\n");
  CHECK(h.command("MAIL FROM:<a@remote.test>") == "503 5.5.1 Error: send HELO/EHLO first\r\n");
  const std::string ehlo = h.command("EHLO client.example");
  CHECK(ehlo.rfind("250-proxy.example.com\r\n", 0) == 0);
  CHECK(ehlo.find("SIZE 1000") != std::string::npos);
  CHECK(ehlo.find("AUTH") == std::string::npos);      // not on port 25
  CHECK(ehlo.find("STARTTLS") == std::string::npos);  // no TLS configured
  CHECK(h.command("STARTTLS") == "454 4.7.0 TLS not available\r\n");
  CHECK(h.command("NOOP") == "250 2.0.0 Ok\r\n");
  CHECK(h.command("VRFY bob").rfind("252 2.5.2 ", 0) == 0);
  CHECK(h.command("HELP").rfind("214 ", 0) == 0);
  CHECK(h.command("AUTH PLAIN") == "503 5.5.1 Error: authentication not enabled\r\n");
  CHECK(h.command("RCPT TO:<bob@example.com>") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(h.command("DATA") == "503 5.5.1 Error: need MAIL command\r\n");
  CHECK(h.command("FROB") == "500 5.5.2 Error: command not recognized\r\n");
  CHECK(h.command("MAIL FROM:<a@remote.test> SIZE=5000") ==
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  CHECK(h.command("MAIL FROM:<a@remote.test>") == "250 2.1.0 Ok\r\n");
  CHECK(h.command("MAIL FROM:<a@remote.test>") == "503 5.5.1 Error: nested MAIL command\r\n");
  CHECK(h.command("RCPT TO:<x@elsewhere.test>") ==
        "554 5.7.1 <x@elsewhere.test>: Relay access denied\r\n");
  CHECK(h.command("QUIT") == "221 2.0.0 Bye\r\n");
  CHECK(h.reply() == "<eof>");
  // A foreign domain is refused without asking the directory.
  CHECK(h.directory().looked_up().empty());
}

TEST_CASE("smtp proxy session: too many errors end the session with 421") {
  Harness h("smtp", closed_port(), 5);
  h.connect();
  for (int i = 0; i < 4; ++i) CHECK(h.command("FROB").rfind("500 ", 0) == 0);
  CHECK(h.command("FROB") == "500 5.5.2 Error: command not recognized\r\n");
  CHECK(h.reply() == "421 4.7.0 proxy.example.com Too many errors, closing connection\r\n");
  CHECK(h.reply() == "<eof>");
}

TEST_CASE("smtp proxy session: the first local recipient routes; pipelined commands follow") {
  FakeNode node([](const std::string& l) { return node_answer(l); });
  Harness h("smtp", node.port());
  h.connect();
  h.command("EHLO client.example");
  CHECK(h.command("MAIL FROM:<a@remote.test> SIZE=100") == "250 2.1.0 Ok\r\n");
  CHECK(h.command("RCPT TO:<nobody@example.com>") ==
        "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown\r\n");
  CHECK(h.command("RCPT TO:<slow@example.com>") ==
        "451 4.3.0 <slow@example.com>: Temporary lookup failure, try again later\r\n");
  // One write: the proxy acts on the first RCPT; the rest reach the node
  // through the pump, in order.
  h.send("RCPT TO:<bob>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n");
  CHECK(h.reply() == "250 2.1.5 Ok node1\r\n");
  CHECK(h.reply() == "250 2.1.5 Ok node1\r\n");
  CHECK(h.reply() == "354 go\r\n");
  const auto lines = node.wait_lines(7);
  REQUIRE(lines.size() == 7);
  CHECK(lines[0] == "EHLO proxy.example.com");
  CHECK(lines[1] == "XCLIENT ADDR=192.0.2.10 PORT=40000 HELO=client.example PROTO=ESMTP");
  CHECK(lines[2] == "EHLO client.example");
  CHECK(lines[3] == "MAIL FROM:<a@remote.test> SIZE=100");
  CHECK(lines[4] == "RCPT TO:<bob>");  // as sent: the node qualifies it itself
  CHECK(lines[5] == "RCPT TO:<carol@example.com>");
  CHECK(lines[6] == "DATA");
  // The unqualified recipient was routed as bob@example.com; carol was not
  // looked up by the proxy (the node's business after the hand-off).
  const auto asked = h.directory().looked_up();
  CHECK(asked ==
        std::vector<std::string>{"nobody@example.com", "slow@example.com", "bob@example.com"});
}

TEST_CASE("smtp proxy session: the node's refusal of the routing RCPT reaches the client") {
  FakeNode node([](const std::string& l) {
    if (l == "RCPT TO:<bob@example.com>")
      return std::string("550 5.2.2 <bob@example.com>: full\r\n");
    return node_answer(l);
  });
  Harness h("smtp", node.port());
  h.connect();
  h.command("HELO client.example");
  h.command("MAIL FROM:<>");
  CHECK(h.command("RCPT TO:<bob@example.com>") == "550 5.2.2 <bob@example.com>: full\r\n");
  // The transaction goes on with the node, which takes the next recipient.
  CHECK(h.command("RCPT TO:<carol@example.com>") == "250 2.1.5 Ok node1\r\n");
  const auto lines = node.wait_lines(6);
  REQUIRE(lines.size() == 6);
  CHECK(lines[1] == "XCLIENT ADDR=192.0.2.10 PORT=40000 HELO=client.example PROTO=SMTP");
  CHECK(lines[2] == "HELO client.example");
  CHECK(lines[3] == "MAIL FROM:<>");
  CHECK(h.directory().looked_up() == std::vector<std::string>{"bob@example.com"});
}

TEST_CASE("smtp proxy session: node down is a temporary failure and the session goes on") {
  Harness h("smtp", closed_port());
  h.connect();
  h.command("EHLO client.example");
  h.command("MAIL FROM:<a@remote.test>");
  CHECK(h.command("RCPT TO:<bob@example.com>") ==
        "451 4.4.1 <bob@example.com>: Mail server temporarily unavailable, try again later\r\n");
  CHECK(h.command("RSET") == "250 2.0.0 Ok\r\n");
  CHECK(h.command("QUIT") == "221 2.0.0 Bye\r\n");
}

TEST_CASE("smtp proxy session: a node that does not trust the proxy is a temporary failure") {
  FakeNode node([](const std::string& l) { return node_answer(l, false); });
  Harness h("smtp", node.port());
  h.connect();
  h.command("EHLO client.example");
  h.command("MAIL FROM:<a@remote.test>");
  CHECK(h.command("RCPT TO:<bob@example.com>").rfind("451 4.4.1 ", 0) == 0);
  CHECK(h.command("NOOP") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("smtp proxy session: a sender the node refuses ends the transaction at the proxy") {
  FakeNode node([](const std::string& l) {
    if (l.rfind("MAIL ", 0) == 0) return std::string("550 5.7.23 SPF says no\r\n");
    return node_answer(l);
  });
  Harness h("smtp", node.port());
  h.connect();
  h.command("EHLO client.example");
  h.command("MAIL FROM:<a@remote.test>");
  h.send("RCPT TO:<bob@example.com>\r\nDATA\r\n");
  CHECK(h.reply() == "550 5.7.23 SPF says no\r\n");
  CHECK(h.reply() == "503 5.5.1 Error: need MAIL command\r\n");
}

TEST_CASE("smtp proxy session: submission authenticates at the edge and vouches with XCLIENT") {
  FakeNode node([](const std::string& l) { return node_answer(l); });
  Harness h("submission", node.port());
  h.connect();
  CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0") ==
        "503 5.5.1 Error: send EHLO first\r\n");
  CHECK(h.command("EHLO client.example").find("250-AUTH PLAIN LOGIN\r\n") != std::string::npos);
  CHECK(h.command("MAIL FROM:<alice@example.com>") == "530 5.7.0 Authentication required\r\n");
  CHECK(h.command("AUTH CRAM-MD5") == "504 5.5.4 Unsupported authentication mechanism\r\n");
  CHECK(h.command("AUTH PLAIN !!!") == "501 5.5.2 Cannot decode response\r\n");
  // "\0alice@example.com\0right"
  // Pipelined behind AUTH: MAIL waits in the proxy and goes to the node.
  h.send("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0\r\nMAIL FROM:<alice@example.com>\r\n");
  CHECK(h.reply() == "235 2.7.0 Authentication successful\r\n");
  CHECK(h.reply() == "250 2.1.0 Ok\r\n");
  const auto lines = node.wait_lines(4);
  REQUIRE(lines.size() == 4);
  CHECK(lines[1] ==
        "XCLIENT ADDR=192.0.2.10 PORT=40000 HELO=client.example PROTO=ESMTP "
        "LOGIN=alice@example.com");
  CHECK(lines[2] == "EHLO client.example");
  CHECK(lines[3] == "MAIL FROM:<alice@example.com>");  // through the pump
}

TEST_CASE("smtp proxy session: AUTH LOGIN, wrong passwords, then 421") {
  Harness h("submission", closed_port());
  h.connect();
  h.command("EHLO client.example");
  CHECK(h.command("AUTH LOGIN") == "334 VXNlcm5hbWU6\r\n");
  CHECK(h.command("YWxpY2VAZXhhbXBsZS5jb20=") == "334 UGFzc3dvcmQ6\r\n");
  CHECK(h.command("d3Jvbmc=") == "535 5.7.8 Authentication credentials invalid\r\n");
  CHECK(h.command("AUTH LOGIN YWxpY2VAZXhhbXBsZS5jb20=") == "334 UGFzc3dvcmQ6\r\n");
  CHECK(h.command("*") == "501 5.7.0 Authentication cancelled\r\n");
  CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n") ==
        "535 5.7.8 Authentication credentials invalid\r\n");
  // The right password, but node1 is not there: temporary.
  CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0") ==
        "451 4.4.1 Mail server temporarily unavailable, try again later\r\n");
  CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n") ==
        "535 5.7.8 Authentication credentials invalid\r\n");
  CHECK(h.reply() == "421 4.7.0 Too many failed authentications, closing connection\r\n");
  CHECK(h.reply() == "<eof>");
}

TEST_CASE("smtp proxy session: without verify_credentials the node checks the password") {
  FakeNode node([](const std::string& l) {
    if (l == "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0")
      return std::string("235 2.7.0 Authentication successful (node)\r\n");
    if (l.rfind("AUTH PLAIN ", 0) == 0) return std::string("535 5.7.8 no\r\n");
    return node_answer(l);
  });
  Harness h("submission", node.port(), 20, false);
  h.connect();
  h.command("EHLO client.example");
  CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0") ==
        "235 2.7.0 Authentication successful (node)\r\n");
  const auto lines = node.wait_lines(4);
  REQUIRE(lines.size() == 4);
  // No LOGIN: the proxy did not check the password, so it does not vouch.
  CHECK(lines[1] == "XCLIENT ADDR=192.0.2.10 PORT=40000 HELO=client.example PROTO=ESMTP");
  CHECK(lines[3] == "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0");
}

TEST_CASE("smtp proxy session: a password the node refuses leaves the client at the proxy") {
  FakeNode node([](const std::string& l) {
    if (l.rfind("AUTH PLAIN ", 0) == 0) return std::string("535 5.7.8 no\r\n");
    return node_answer(l);
  });
  Harness h("submission", node.port(), 20, false);
  h.connect();
  h.command("EHLO client.example");
  CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHdyb25n") ==
        "535 5.7.8 Authentication credentials invalid\r\n");
  CHECK(h.command("NOOP") == "250 2.0.0 Ok\r\n");
  CHECK(h.command("MAIL FROM:<alice@example.com>") == "530 5.7.0 Authentication required\r\n");
}

TEST_CASE("smtp proxy session: a node that cannot take the session answers temporarily") {
  SUBCASE("XCLIENT refused with 421 (the node's directory is down)") {
    FakeNode node([](const std::string& l) {
      if (l.rfind("XCLIENT ", 0) == 0) return std::string("421 4.3.0 Directory unavailable\r\n");
      return node_answer(l);
    });
    Harness h("submission", node.port());
    h.connect();
    h.command("EHLO client.example");
    CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0") ==
          "451 4.4.1 Mail server temporarily unavailable, try again later\r\n");
    CHECK(h.command("NOOP") == "250 2.0.0 Ok\r\n");
  }
  SUBCASE("a greeting that is not 220") {
    FakeNode node([](const std::string& l) { return node_answer(l); },
                  "554 5.3.2 node1 not accepting mail\r\n");
    Harness h("smtp", node.port());
    h.connect();
    h.command("EHLO client.example");
    h.command("MAIL FROM:<a@remote.test>");
    CHECK(h.command("RCPT TO:<bob@example.com>").rfind("451 4.4.1 ", 0) == 0);
  }
  SUBCASE("garbage instead of SMTP") {
    FakeNode node([](const std::string& l) { return node_answer(l); }, "+OK pop3 here\r\n");
    Harness h("smtp", node.port());
    h.connect();
    h.command("EHLO client.example");
    h.command("MAIL FROM:<a@remote.test>");
    CHECK(h.command("RCPT TO:<bob@example.com>").rfind("451 4.4.1 ", 0) == 0);
  }
}

}  // namespace postern::proxy
