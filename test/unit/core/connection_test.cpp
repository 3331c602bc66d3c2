// The network core over real loopback sockets: a line-echo service behind a
// Listener, clients as plain blocking sockets (and OpenSSL for TLS).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "core/connection.hpp"
#include "core/listener.hpp"

using namespace postern::core;
using namespace std::chrono_literals;

namespace {

// A self-signed certificate for 127.0.0.1, written to a temp folder.
struct TestCert {
  std::filesystem::path dir;
  std::string cert, key;
  TestCert() {
    dir = std::filesystem::temp_directory_path() / ("postern-cert-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    EVP_PKEY* pkey = EVP_RSA_gen(2048);
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = std::fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~TestCert() { std::filesystem::remove_all(dir); }
};

// Sessions alive now; a rig waits for zero before stopping its loop, so no
// session is left behind (LeakSanitizer would rightly report it).
std::atomic<int> g_live_sessions{0};

// The options echo sessions use (the tests of direct I/O change them).
Connection::Options g_echo_options;

struct EchoOptions {
  explicit EchoOptions(Connection::Options o) { g_echo_options = o; }
  EchoOptions(const EchoOptions&) = delete;
  EchoOptions& operator=(const EchoOptions&) = delete;
  ~EchoOptions() { g_echo_options = Connection::Options{}; }
};

// As the proxy makes its plain connections: direct reads and writes.
Connection::Options direct_options(std::chrono::milliseconds idle = 30s) {
  Connection::Options o;
  o.direct_write = true;
  o.nodelay_inherited = true;
  o.idle_timeout = idle;
  return o;
}

// Echo session: "STARTTLS" upgrades, "QUIT" closes, other lines come back
// prefixed; an over-long line answers "TOOLONG".
class EchoSession : public Connection::Handler {
 public:
  EchoSession(EventLoop& loop, Accepted a)
      : ticket_(std::move(a.ticket)),
        listener_(*a.listener),
        conn_(loop, a.fd, a.peer, g_echo_options, this,
              a.listener->implicit_tls ? a.listener->tls : nullptr) {
    ++g_live_sessions;
    if (!a.listener->implicit_tls) conn_.write("HELLO\r\n");
  }
  ~EchoSession() override { --g_live_sessions; }
  void on_tls_ready(Connection& c) noexcept override {
    if (listener_.implicit_tls) c.write("HELLO " + c.tls_description().substr(0, 5) + "\r\n");
  }
  void on_input(Connection& c) noexcept override {
    for (;;) {
      bool too_long = false;
      auto line = c.read_line(64, &too_long);
      if (too_long) {
        c.write("TOOLONG\r\n");
        continue;  // the rest of the input may hold whole lines
      }
      if (!line) return;
      if (*line == "QUIT") {
        c.write("BYE\r\n");
        c.close_after_flush();
        return;
      }
      if (*line == "STARTTLS") {
        c.write("GO\r\n");
        c.start_tls(listener_.tls);
        return;
      }
      c.write("ECHO " + *line + (c.tls_active() ? " tls" : "") + "\r\n");
    }
  }
  void on_closed(Connection& c, CloseReason) noexcept override {
    // Destroyed later, never inside our own callback.
    auto* self = this;
    c.loop().post([self] { delete self; });
  }

 private:
  std::unique_ptr<FlowControl::Ticket> ticket_;
  const ListenerConfig& listener_;
  Connection conn_;
};

class EchoService : public Service {
 public:
  void accept(EventLoop& loop, Accepted a) override { new EchoSession(loop, std::move(a)); }
  std::string refusal(FlowVerdict) const override { return "BUSY\r\n"; }
};

int dial(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads one CRLF line from a plain socket (or SSL when given).
std::string read_line(int fd, SSL* ssl = nullptr) {
  std::string line;
  char c;
  while (true) {
    int n = ssl != nullptr ? SSL_read(ssl, &c, 1) : static_cast<int>(::read(fd, &c, 1));
    if (n <= 0) return line.empty() ? "<closed>" : line;
    if (c == '\n') break;
    if (c != '\r') line += c;
  }
  return line;
}

void send_all(int fd, const std::string& s, SSL* ssl = nullptr) {
  if (ssl != nullptr) {
    SSL_write(ssl, s.data(), static_cast<int>(s.size()));
  } else {
    [[maybe_unused]] auto n = ::write(fd, s.data(), s.size());
  }
}

// A listener on an ephemeral port, served by its own loop thread.
struct Rig {
  TestCert cert;
  std::shared_ptr<TlsContext> tls;
  ListenerConfig config;
  EchoService service;
  std::unique_ptr<LoopThread> thread;
  std::unique_ptr<Listener> listener;
  std::uint16_t port = 0;

  explicit Rig(bool implicit_tls = false, FlowLimits flow = {}, AccessRules access = {}) {
    TlsConfig tc;
    tc.cert_file = cert.cert;
    tc.key_file = cert.key;
    tls = TlsContext::server(tc, "test", "tls");
    config.name = "echo";
    config.address = *Endpoint::parse("127.0.0.1:0");
    config.tls = tls;
    config.implicit_tls = implicit_tls;
    config.flow = std::make_shared<FlowControl>(flow);
    config.access = std::move(access);
    thread = std::make_unique<LoopThread>();
    std::promise<std::uint16_t> bound;
    thread->loop().post([&] {
      listener =
          std::make_unique<Listener>(thread->loop(), config, service, "test", "listeners[0]");
      bound.set_value(listener->bound_port());
    });
    port = bound.get_future().get();
  }
  ~Rig() {
    // The clients have closed; let the server side see it and finish.
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (g_live_sessions.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    std::promise<void> gone;
    thread->loop().post([&] {
      listener.reset();
      gone.set_value();
    });
    gone.get_future().get();
    thread.reset();
  }
};

SSL_CTX* client_ctx(const std::string& ca) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

}  // namespace

namespace {

// Dials the rig and checks lines both ways, an over-long line refused and the
// line after it served; returns the connected socket.
int dial_and_echo_lines(const Rig& rig) {
  int fd = dial(rig.port);
  CHECK(read_line(fd) == "HELLO");
  send_all(fd, "one\r\ntwo\n");
  CHECK(read_line(fd) == "ECHO one");
  CHECK(read_line(fd) == "ECHO two");
  send_all(fd, std::string(200, 'x') + "\r\nafter\r\n");
  CHECK(read_line(fd) == "TOOLONG");
  CHECK(read_line(fd) == "ECHO after");
  return fd;
}

// STARTTLS upgrades in place; "injected", sent in plaintext right after the
// command, must be dropped.
void check_starttls(const Rig& rig) {
  int fd = dial(rig.port);
  CHECK(read_line(fd) == "HELLO");
  send_all(fd, "STARTTLS\r\ninjected\r\n");
  CHECK(read_line(fd) == "GO");
  SSL_CTX* ctx = client_ctx(rig.cert.cert);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  REQUIRE(SSL_connect(ssl) == 1);
  send_all(fd, "secure\r\n", ssl);
  CHECK(read_line(fd, ssl) == "ECHO secure tls");
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
}

}  // namespace

TEST_CASE("connection: lines in, lines out, over-long lines refused, close after flush") {
  Rig rig;
  int fd = dial_and_echo_lines(rig);
  send_all(fd, "QUIT\r\n");
  CHECK(read_line(fd) == "BYE");
  CHECK(read_line(fd) == "<closed>");
  close(fd);
}

TEST_CASE("connection: STARTTLS upgrades in place and drops plaintext sent before the handshake") {
  Rig rig;
  check_starttls(rig);
}

TEST_CASE("connection: direct I/O reads lines, refuses over-long ones and closes after flush") {
  EchoOptions direct(direct_options());
  Rig rig;
  int fd = dial_and_echo_lines(rig);
  // The last command and the close in one go: the command is still served.
  send_all(fd, "last\r\n");
  shutdown(fd, SHUT_WR);
  CHECK(read_line(fd) == "ECHO last");
  close(fd);
}

TEST_CASE("connection: direct I/O upgrades with STARTTLS and drops plaintext sent before it") {
  EchoOptions direct(direct_options());
  Rig rig;
  check_starttls(rig);
}

TEST_CASE("connection: direct I/O idle timeout; zero means none; a stalled STARTTLS times out") {
  using Clock = std::chrono::steady_clock;
  SUBCASE("an idle connection is closed after the timeout") {
    EchoOptions direct(direct_options(300ms));
    Rig rig;
    int fd = dial(rig.port);
    CHECK(read_line(fd) == "HELLO");
    auto start = Clock::now();
    CHECK(read_line(fd) == "<closed>");
    CHECK(Clock::now() - start < 3s);  // closed by the server, not the client's 5 s read timeout
    close(fd);
  }
  SUBCASE("a zero timeout never fires") {
    EchoOptions direct(direct_options(0ms));
    Rig rig;
    int fd = dial(rig.port);
    CHECK(read_line(fd) == "HELLO");
    std::this_thread::sleep_for(400ms);
    send_all(fd, "still\r\n");
    CHECK(read_line(fd) == "ECHO still");
    close(fd);
  }
  SUBCASE("a client that says STARTTLS and then nothing is closed after the timeout") {
    EchoOptions direct(direct_options(300ms));
    Rig rig;
    int fd = dial(rig.port);
    CHECK(read_line(fd) == "HELLO");
    send_all(fd, "STARTTLS\r\n");
    CHECK(read_line(fd) == "GO");
    auto start = Clock::now();
    char c;
    CHECK(::read(fd, &c, 1) == 0);  // the server's FIN, without a handshake
    CHECK(Clock::now() - start < 3s);
    close(fd);
  }
}

TEST_CASE("connection: implicit TLS with certificate verification") {
  Rig rig(true);
  int fd = dial(rig.port);
  SSL_CTX* ctx = client_ctx(rig.cert.cert);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  REQUIRE(SSL_connect(ssl) == 1);
  CHECK(read_line(fd, ssl) == "HELLO TLSv1");
  send_all(fd, "x\r\n", ssl);
  CHECK(read_line(fd, ssl) == "ECHO x tls");
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
}

TEST_CASE("connection: flow control refuses with the service's line; access rules deny") {
  FlowLimits flow;
  flow.max_per_ip = 1;
  Rig rig(false, flow);
  int first = dial(rig.port);
  CHECK(read_line(first) == "HELLO");
  int second = dial(rig.port);
  CHECK(read_line(second) == "BUSY");
  CHECK(read_line(second) == "<closed>");
  close(second);
  send_all(first, "QUIT\r\n");
  CHECK(read_line(first) == "BYE");
  close(first);

  Rig denied(false, {}, AccessRules({{false, *Network::parse("127.0.0.0/8")}}));
  int fd = dial(denied.port);
  CHECK(read_line(fd) == "<closed>");
  close(fd);
}
