// A Pop3Service session over a socketpair, with a peer address that is not
// loopback (which the integration tests cannot have), an answering fake
// directory and a real store in a temporary folder.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "backend/pop3/pop3_service.hpp"
#include "core/log.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

namespace postern::node::pop3 {
namespace {

// Answers every login at once: "right" is the password of every account,
// which lives on node1.
class AnsweringDirectory final : public mapping::Directory {
 public:
  void lookup(std::string_view, core::Executor& reply, mapping::LookupCallback done) override {
    reply.post([done] { done(mapping::LookupResult{}); });
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
};

class Harness {
 public:
  explicit Harness(bool allow_plaintext, std::size_t worker_queue = 100)
      : workers_(std::make_unique<core::WorkerPool>(1, worker_queue)) {
    std::filesystem::create_directories(dir_.path() / "store");
    config_.name = "node1";
    store_ = std::make_unique<store::Store>((dir_.path() / "store").string());
    context_.reset(new NodeContext{config_, directory_, *store_, *workers_, metrics_});
    service_ = std::make_unique<Pop3Service>(*context_);
    listener_.name = "pop3";
    listener_.protocol = "pop3";
    listener_.allow_plaintext_auth = allow_plaintext;
    listener_.errors.max_bad_commands = 5;
    core::set_log_level(core::LogLevel::Warn);
  }
  ~Harness() {
    if (client_ >= 0) ::close(client_);
    // As the node does: close the sessions on their loop, stop the loop (which
    // runs what they posted), then the rest.
    on_loop([this] { service_->close_all(loop_->loop()); });
    loop_.reset();
    core::set_log_level(saved_level_);
  }

  // Connects a client from 192.0.2.10 and returns the greeting.
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
    return line();
  }

  void send(const std::string& text) {
    REQUIRE(::write(client_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }
  std::string line() {
    std::string out;
    char c;
    while (::read(client_, &c, 1) == 1) {
      out += c;
      if (c == '\n') return out;
    }
    return out + "<eof>";
  }
  std::string command(const std::string& text) {
    send(text + "\r\n");
    return line();
  }
  // A multi-line reply, first line included, up to the "." line.
  std::string multi(const std::string& text) {
    send(text + "\r\n");
    std::string out;
    for (std::string l = line();; l = line()) {
      out += l;
      if (l == ".\r\n" || l.find("<eof>") != std::string::npos || l.rfind("-ERR", 0) == 0)
        return out;
    }
  }
  std::size_t sessions() const { return service_->sessions(); }
  store::Store& store() { return *store_; }
  core::WorkerPool& workers() { return *workers_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

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
  store::test::TempDir dir_;
  NodeConfig config_;
  AnsweringDirectory directory_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<core::WorkerPool> workers_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<NodeContext> context_;
  std::unique_ptr<Pop3Service> service_;
  core::ListenerConfig listener_;
  std::unique_ptr<core::LoopThread> loop_ = std::make_unique<core::LoopThread>();
  int client_ = -1;
};

}  // namespace

TEST_CASE("pop3 session: no plaintext login off loopback without TLS") {
  Harness h(false);
  CHECK(h.connect() == "+OK Postern ready.\r\n");
  std::string capa = h.multi("CAPA");
  CHECK(capa.find("UIDL\r\n") != std::string::npos);
  CHECK(capa.find("USER") == std::string::npos);
  CHECK(capa.find("SASL") == std::string::npos);
  CHECK(capa.find("STLS") == std::string::npos);  // no TLS configured
  const std::string refused =
      "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections\r\n";
  CHECK(h.command("USER alice@example.com") == refused);
  CHECK(h.command("PASS right") == refused);
  CHECK(h.command("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHJpZ2h0") == refused);
  CHECK(h.command("QUIT") == "+OK Logging out.\r\n");
  CHECK(h.line() == "<eof>");
}

TEST_CASE("pop3 session: a listener that allows plaintext, login and an empty maildrop") {
  Harness h(true);
  h.connect();
  CHECK(h.multi("CAPA").find("USER\r\n") != std::string::npos);
  CHECK(h.command("USER alice@example.com") == "+OK\r\n");
  CHECK(h.command("PASS right") == "+OK Logged in; 0 messages (0 octets).\r\n");
  CHECK(h.command("STAT") == "+OK 0 0\r\n");
  CHECK(h.multi("LIST") == "+OK 0 messages (0 octets)\r\n.\r\n");
  CHECK(h.command("RETR 1") == "-ERR There is no such message\r\n");
  CHECK(h.sessions() == 1);
  CHECK(h.command("QUIT") == "+OK Logging out.\r\n");
}

TEST_CASE("pop3 session: too many bad commands end the session") {
  Harness h(true);
  h.connect();
  for (int i = 0; i < 4; ++i) CHECK(h.command("XYZZY") == "-ERR Unknown command\r\n");
  CHECK(h.command("XYZZY").rfind("-ERR Too many", 0) == 0);
  CHECK(h.line() == "<eof>");
}

TEST_CASE("pop3 session: pipelined RETRs refused by a full worker queue are answered in order") {
  // Each refusal is answered at once and the next command read by the same
  // loop. (Before, each one nested another process_input(), about 5,700 deep
  // at the output limit: several MB of the loop thread's stack, which this
  // test did not overflow, even under AddressSanitizer.)
  Harness h(true, 1);
  {
    const std::string spool = (h.dir() / "spool").string();
    std::filesystem::create_directories(spool);
    std::ofstream(spool + "/m") << "Subject: hi\r\n\r\nhello\r\n";
    store::NewMessage m;
    m.source_path = spool + "/m";
    m.size = std::filesystem::file_size(m.source_path);
    store::LinkedDelivery to{"alice@example.com"};
    auto r = h.store().deliver_linked(m, std::span(&to, 1));
    REQUIRE(r.size() == 1);
    REQUIRE(r[0].has_value());
  }
  h.connect();
  CHECK(h.command("USER alice@example.com") == "+OK\r\n");
  CHECK(h.command("PASS right").rfind("+OK Logged in; 1 messages", 0) == 0);
  // The only worker waits on `gate`, and one more job fills the queue.
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::promise<void> taken;
  REQUIRE(h.workers().submit([opened, &taken] {
    taken.set_value();
    opened.wait();
  }));
  taken.get_future().wait();
  REQUIRE(h.workers().submit([] {}));
  constexpr int kRetrs = 6000;
  std::string batch;
  for (int i = 0; i < kRetrs; ++i) batch += "RETR 1\r\n";
  // The client reads while it writes: the replies outgrow the socket buffer.
  std::thread writer([&] { h.send(batch + "NOOP\r\n"); });
  int busy = 0;
  std::string l;
  for (l = h.line(); l.rfind("-ERR [SYS/TEMP]", 0) == 0; l = h.line()) ++busy;
  writer.join();
  gate.set_value();
  CHECK(busy == kRetrs);
  CHECK(l == "+OK\r\n");
  CHECK(h.sessions() == 1);
  CHECK(h.command("QUIT").rfind("+OK Logging out", 0) == 0);
}

}  // namespace postern::node::pop3
