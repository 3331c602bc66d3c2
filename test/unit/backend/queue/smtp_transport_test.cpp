// SmtpTransport on a LoopThread against scripted SMTP servers on 127.0.0.1:
// relay to a node (fixed endpoint), then MX routing with a fake lookup.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend/queue/smtp_transport.hpp"
#include "core/event_loop.hpp"
#include "test/unit/backend/queue/smtp_script_server.hpp"

using namespace postern;
using namespace postern::node::queue;
using postern::test::ScriptPeer;
using postern::test::ScriptServer;
using namespace std::chrono_literals;
using Status = RecipientOutcome::Status;

namespace {

// Answers from tables, posted like the real resolver's.
class FakeLookup final : public MxLookup {
 public:
  explicit FakeLookup(core::EventLoop& loop) : loop_(loop) {}
  std::map<std::string, core::DnsAnswer<core::MxRecord>> mx_answers;
  std::map<std::string, core::DnsAnswer<core::IpAddress>> address_answers;

  void mx(std::string_view domain,
          std::function<void(core::DnsAnswer<core::MxRecord>)> done) override {
    auto it = mx_answers.find(std::string(domain));
    core::DnsAnswer<core::MxRecord> a;
    a.status = core::DnsStatus::NxDomain;
    if (it != mx_answers.end()) a = it->second;
    loop_.post([done = std::move(done), a] { done(a); });
  }
  void addresses(std::string_view host,
                 std::function<void(core::DnsAnswer<core::IpAddress>)> done) override {
    auto it = address_answers.find(std::string(host));
    core::DnsAnswer<core::IpAddress> a;
    a.status = core::DnsStatus::NxDomain;
    if (it != address_answers.end()) a = it->second;
    loop_.post([done = std::move(done), a] { done(a); });
  }

 private:
  core::EventLoop& loop_;
};

core::DnsAnswer<core::IpAddress> ips(std::vector<std::string> list) {
  core::DnsAnswer<core::IpAddress> a;
  a.status = core::DnsStatus::Ok;
  for (const auto& s : list) a.records.push_back(*core::IpAddress::parse(s));
  return a;
}

// Runs `fn` on the loop and waits for it.
template <class Fn>
void on_loop(core::EventLoop& loop, Fn fn) {
  std::promise<void> p;
  loop.post([&] {
    fn();
    p.set_value();
  });
  p.get_future().wait();
}

struct Fixture {
  core::LoopThread thread;
  core::WorkerPool workers{2, 64};
  core::MetricsRegistry metrics;
  std::shared_ptr<FakeLookup> lookup = std::make_shared<FakeLookup>(thread.loop());
  std::unique_ptr<SmtpTransport> transport;
  std::filesystem::path dir;

  explicit Fixture(SmtpClientConfig config = quick(), std::shared_ptr<core::TlsContext> tls = {}) {
    dir = std::filesystem::temp_directory_path() /
          ("postern-smtpc-" + std::to_string(getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::create_directories(dir);
    on_loop(thread.loop(), [&] {
      transport = std::make_unique<SmtpTransport>(thread.loop(), lookup, workers, std::move(tls),
                                                  config, metrics);
    });
  }
  ~Fixture() {
    on_loop(thread.loop(), [&] { transport.reset(); });
    std::filesystem::remove_all(dir);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
  static SmtpClientConfig quick() {
    SmtpClientConfig c;
    c.connect_timeout = 2000ms;
    c.command_timeout = 2000ms;
    c.reuse_idle = 0ms;
    c.starttls = false;
    c.helo_name = "node1.test";
    return c;
  }

  RemoteDelivery node_delivery(std::uint16_t port, std::vector<std::string> rcpts,
                               const std::string& body = "Subject: t\r\n\r\nhello\r\n") {
    RemoteDelivery d;
    d.queue_id = "Q1";
    d.sender = "alice@example.com";
    d.route = Route::Node;
    d.relay = core::Endpoint{"127.0.0.1", port};
    for (auto& r : rcpts) {
      Recipient rc;
      rc.address = r;
      rc.route = Route::Node;
      rc.node = "node2";
      d.recipients.push_back(rc);
    }
    d.message_path = (dir / ("msg" + std::to_string(counter()++))).string();
    std::ofstream(d.message_path, std::ios::binary) << body;
    d.size = body.size();
    return d;
  }

  std::future<std::vector<RecipientOutcome>> deliver(RemoteDelivery d) {
    auto p = std::make_shared<std::promise<std::vector<RecipientOutcome>>>();
    auto f = p->get_future();
    on_loop(thread.loop(), [&] {
      transport->deliver(std::move(d), [p](std::vector<RecipientOutcome> o) { p->set_value(o); });
    });
    return f;
  }
  std::vector<RecipientOutcome> deliver_wait(RemoteDelivery d) {
    auto f = deliver(std::move(d));
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    return f.get();
  }
  std::uint64_t counter_value(const std::string& name, core::MetricLabels labels) {
    return metrics.counter(name, "", labels).value();
  }
};

// Greeting and EHLO (multi-line) with the given keywords.
void greet(ScriptPeer& p, const std::string& keywords = "250-PIPELINING\r\n250 SIZE 1000000") {
  p.send("220-mx.test ESMTP\r\n220 welcome\r\n");
  CHECK(p.line() == "EHLO node1.test");
  p.send("250-mx.test\r\n" + keywords + "\r\n");
}

// MAIL, n RCPTs answered in order, DATA, body, final reply.
std::string transaction(ScriptPeer& p, std::vector<std::string> rcpt_replies,
                        const std::string& final_reply = "250 2.0.0 queued as X") {
  CHECK(p.line().rfind("MAIL FROM:<alice@example.com>", 0) == 0);
  p.send("250 2.1.0 ok\r\n");
  bool any = false;
  for (auto& r : rcpt_replies) {
    CHECK(p.line().rfind("RCPT TO:<", 0) == 0);
    p.send(r + "\r\n");
    any = any || r[0] == '2';
  }
  if (!any) return "";
  CHECK(p.line() == "DATA");
  p.send("354 go\r\n");
  std::string body = p.data();
  p.send(final_reply + "\r\n");
  return body;
}

void quit(ScriptPeer& p) {
  if (p.line() == "QUIT") p.send("221 bye\r\n");
}

}  // namespace

TEST_CASE("smtp transport: relay to a node, per-recipient replies, dot-stuffing") {
  Fixture f;
  std::string body;
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p);
    body = transaction(p, {"250 2.1.5 ok", "550 5.1.1 no such user", "451 4.3.0 try later"});
    quit(p);
  }});
  auto d =
      f.node_delivery(server.port(), {"bob@example.com", "nobody@example.com", "t@example.com"},
                      "Subject: dots\r\n\r\n.hidden\r\n..two\r\nend");
  auto out = f.deliver_wait(d);
  server.wait_done();
  REQUIRE(out.size() == 3);
  CHECK(out[0].status == Status::Delivered);
  CHECK(out[0].reply == "250 2.0.0 queued as X");
  CHECK(out[0].remote_mta == "node2 [127.0.0.1]");
  CHECK(out[1].status == Status::PermFail);
  CHECK(out[1].reply == "550 5.1.1 no such user");
  CHECK(out[2].status == Status::TempFail);
  CHECK(out[2].reply == "451 4.3.0 try later");
  CHECK(body == "Subject: dots\r\n\r\n..hidden\r\n...two\r\nend\r\n");
  auto t = server.transcripts();
  REQUIRE(t.size() == 1);
  CHECK(t[0][1] == "MAIL FROM:<alice@example.com> SIZE=" + std::to_string(d.size));
  CHECK(f.counter_value("postern_smtp_client_recipients_total",
                        {{"route", "node"}, {"result", "delivered"}}) == 1);
  CHECK(f.counter_value("postern_smtp_client_recipients_total",
                        {{"route", "node"}, {"result", "permfail"}}) == 1);
}

TEST_CASE("smtp transport: EHLO refused falls back to HELO, no ESMTP parameters") {
  Fixture f;
  ScriptServer server({[&](ScriptPeer& p) {
    p.send("220 old.test\r\n");
    CHECK(p.line() == "EHLO node1.test");
    p.send("502 5.5.1 what\r\n");
    CHECK(p.line() == "HELO node1.test");
    p.send("250 old.test\r\n");
    CHECK(p.line() == "MAIL FROM:<alice@example.com>");
    p.send("250 ok\r\n");
    CHECK(p.line() == "RCPT TO:<bob@example.com>");
    p.send("250 ok\r\n");
    CHECK(p.line() == "DATA");
    p.send("354 go\r\n");
    p.data();
    p.send("250 done\r\n");
    quit(p);
  }});
  auto d = f.node_delivery(server.port(), {"bob@example.com"});
  d.eight_bit = true;
  auto out = f.deliver_wait(d);
  CHECK(out[0].status == Status::Delivered);
  CHECK(out[0].reply == "250 done");
}

TEST_CASE("smtp transport: DATA refused and final replies decide for accepted recipients") {
  for (std::string data_reply : {"554 5.7.1 no thanks", "451 4.7.1 later"}) {
    Fixture f;
    ScriptServer server({[&](ScriptPeer& p) {
      greet(p, "250 SIZE");
      CHECK(p.line().rfind("MAIL", 0) == 0);
      p.send("250 ok\r\n");
      CHECK(p.line().rfind("RCPT", 0) == 0);
      p.send("250 ok\r\n");
      CHECK(p.line() == "DATA");
      p.send(data_reply + "\r\n");
      quit(p);
    }});
    auto out = f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}));
    CHECK(out[0].status == (data_reply[0] == '5' ? Status::PermFail : Status::TempFail));
    CHECK(out[0].reply == data_reply);
  }
  SUBCASE("final 451 and 552 after the dot") {
    for (std::string final_reply : {"451 4.3.0 disk full", "552 5.3.4 too big"}) {
      Fixture f;
      ScriptServer server({[&](ScriptPeer& p) {
        greet(p);
        transaction(p, {"250 ok", "250 ok"}, final_reply);
        quit(p);
      }});
      auto out = f.deliver_wait(f.node_delivery(server.port(), {"a@example.com", "b@example.com"}));
      Status want = final_reply[0] == '4' ? Status::TempFail : Status::PermFail;
      CHECK(out[0].status == want);
      CHECK(out[1].status == want);
      CHECK(out[1].reply == final_reply);
    }
  }
}

TEST_CASE("smtp transport: connection refused is a temporary failure in our words") {
  Fixture f;
  // A port nobody listens on: bound, then closed.
  std::uint16_t port = 0;
  {
    ScriptServer gone({});
    port = gone.port();
  }
  auto out = f.deliver_wait(f.node_delivery(port, {"bob@example.com", "c@example.com"}));
  REQUIRE(out.size() == 2);
  for (auto& o : out) {
    CHECK(o.status == Status::TempFail);
    CHECK(o.reply.rfind("451 4.4.1 cannot connect to node2 [127.0.0.1] port ", 0) == 0);
    CHECK(o.reply.find("refused") != std::string::npos);
    CHECK(o.remote_mta.empty());
  }
}

TEST_CASE("smtp transport: an idle connection is reused (RSET) for the next delivery") {
  SmtpClientConfig c = Fixture::quick();
  c.reuse_idle = 5000ms;
  Fixture f(c);
  std::vector<std::string> lines;
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p);
    transaction(p, {"250 ok"}, "250 first");
    CHECK(p.line() == "RSET");
    p.send("250 reset\r\n");
    transaction(p, {"250 ok"}, "250 second");
    quit(p);
  }});
  auto first = f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}));
  CHECK(first[0].reply == "250 first");
  auto second = f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}));
  CHECK(second[0].reply == "250 second");
  CHECK(server.accepted() == 1);
  CHECK(f.counter_value("postern_smtp_client_connections_total",
                        {{"route", "node"}, {"kind", "opened"}}) == 1);
  CHECK(f.counter_value("postern_smtp_client_connections_total",
                        {{"route", "node"}, {"kind", "reused"}}) == 1);
  on_loop(f.thread.loop(), [&] { f.transport->shutdown(); });  // sends QUIT
  server.wait_done();
  auto t = server.transcripts();
  REQUIRE(t.size() == 1);
  CHECK(t[0].back() == "QUIT");
}

TEST_CASE("smtp transport: a reused connection that fails at RSET is replaced") {
  SmtpClientConfig c = Fixture::quick();
  c.reuse_idle = 5000ms;
  Fixture f(c);
  ScriptServer server({[&](ScriptPeer& p) {
                         greet(p);
                         transaction(p, {"250 ok"}, "250 first");
                         CHECK(p.line() == "RSET");  // closed without an answer
                       },
                       [&](ScriptPeer& p) {
                         greet(p);
                         transaction(p, {"250 ok"}, "250 second");
                         quit(p);
                       }});
  f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}));
  auto second = f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}));
  CHECK(second[0].status == Status::Delivered);
  CHECK(second[0].reply == "250 second");
  CHECK(server.accepted() == 2);
  on_loop(f.thread.loop(), [&] { f.transport->shutdown(); });
}

TEST_CASE("smtp transport: max_per_destination=1 queues the second delivery") {
  SmtpClientConfig c = Fixture::quick();
  c.max_per_destination = 1;
  Fixture f(c);
  std::atomic<bool> overlapped{true};
  ScriptServer* srv = nullptr;
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p);
    CHECK(p.line().rfind("MAIL", 0) == 0);
    // The second delivery must not open a connection meanwhile.
    overlapped = srv->connection_pending(300);
    p.send("250 ok\r\n");
    CHECK(p.line().rfind("RCPT", 0) == 0);
    p.send("250 ok\r\n");
    CHECK(p.line() == "DATA");
    p.send("354 go\r\n");
    p.data();
    p.send("250 one\r\n");
    // Handed straight to the waiting delivery.
    CHECK(p.line() == "RSET");
    p.send("250 ok\r\n");
    transaction(p, {"250 ok"}, "250 two");
    quit(p);
  }});
  srv = &server;
  auto first = f.deliver(f.node_delivery(server.port(), {"a@example.com"}));
  auto second = f.deliver(f.node_delivery(server.port(), {"b@example.com"}));
  REQUIRE(first.wait_for(10s) == std::future_status::ready);
  REQUIRE(second.wait_for(10s) == std::future_status::ready);
  CHECK(first.get()[0].reply == "250 one");
  CHECK(second.get()[0].reply == "250 two");
  CHECK_FALSE(overlapped.load());
  CHECK(server.accepted() == 1);
}

TEST_CASE("smtp transport: a server that stops answering times out") {
  SmtpClientConfig c = Fixture::quick();
  c.command_timeout = 300ms;
  Fixture f(c);
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p);
    p.line();  // MAIL, never answered
    p.closed_within(3000);
  }});
  auto start = std::chrono::steady_clock::now();
  auto out = f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}));
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(out[0].status == Status::TempFail);
  CHECK(out[0].reply.rfind("451 4.4.2 timeout waiting for node2 [127.0.0.1] after mail", 0) == 0);
}

TEST_CASE("smtp transport: a failed STARTTLS handshake is retried once in plaintext") {
  SmtpClientConfig c = Fixture::quick();
  c.starttls = true;
  Fixture f(c, SmtpTransport::opportunistic_tls());
  ScriptServer server({[&](ScriptPeer& p) {
                         greet(p, "250-STARTTLS\r\n250 PIPELINING");
                         CHECK(p.line() == "STARTTLS");
                         p.send("220 go ahead\r\n");
                         p.send("this is not a TLS record\r\n");
                       },
                       [&](ScriptPeer& p) {
                         greet(p, "250-STARTTLS\r\n250 PIPELINING");
                         transaction(p, {"250 ok"}, "250 plain");  // no STARTTLS this time
                         quit(p);
                       }});
  auto out = f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}));
  CHECK(out[0].status == Status::Delivered);
  CHECK(out[0].reply == "250 plain");
  CHECK(server.accepted() == 2);
}

TEST_CASE("smtp transport: destroyed with a delivery in flight, done is dropped") {
  auto f = std::make_unique<Fixture>();
  std::atomic<bool> called{false};
  ScriptServer server({[&](ScriptPeer& p) {
    p.send("220 slow\r\n");
    p.line();  // EHLO, never answered
    p.closed_within(3000);
  }});
  auto d = f->node_delivery(server.port(), {"bob@example.com"});
  on_loop(f->thread.loop(),
          [&] { f->transport->deliver(d, [&](std::vector<RecipientOutcome>) { called = true; }); });
  std::this_thread::sleep_for(200ms);
  f.reset();  // destroys the transport on its loop, then the loop
  CHECK_FALSE(called.load());
}

// ---- MX routing (fake DNS) ---------------------------------------------------

namespace {

RemoteDelivery mx_delivery(Fixture& f, const std::string& domain) {
  auto d = f.node_delivery(1, {"user@" + domain});
  d.route = Route::Mx;
  d.relay.reset();
  d.domain = domain;
  d.recipients[0].route = Route::Mx;
  d.recipients[0].node.clear();
  return d;
}

core::DnsAnswer<core::MxRecord> mxs(std::vector<std::pair<int, std::string>> list) {
  core::DnsAnswer<core::MxRecord> a;
  a.status = core::DnsStatus::Ok;
  for (auto& [pref, host] : list) a.records.push_back({static_cast<std::uint16_t>(pref), host});
  return a;
}

template <class T>
core::DnsAnswer<T> status(core::DnsStatus s) {
  core::DnsAnswer<T> a;
  a.status = s;
  a.detail = "fake";
  return a;
}

}  // namespace

TEST_CASE("smtp transport: MX failures decided by DNS") {
  Fixture f;
  f.lookup->mx_answers["null.test"] = mxs({{0, ""}});
  f.lookup->mx_answers["gone.test"] = status<core::MxRecord>(core::DnsStatus::NxDomain);
  f.lookup->mx_answers["slow.test"] = status<core::MxRecord>(core::DnsStatus::TempFail);
  f.lookup->mx_answers["bare.test"] = status<core::MxRecord>(core::DnsStatus::NoData);
  f.lookup->address_answers["bare.test"] = status<core::IpAddress>(core::DnsStatus::NoData);
  f.lookup->mx_answers["noaddr.test"] = mxs({{10, "mx.noaddr.test"}});
  f.lookup->address_answers["mx.noaddr.test"] = status<core::IpAddress>(core::DnsStatus::TempFail);

  auto check = [&](const std::string& domain, Status want, const std::string& prefix) {
    CAPTURE(domain);
    auto out = f.deliver_wait(mx_delivery(f, domain));
    CHECK(out[0].status == want);
    CHECK(out[0].reply.rfind(prefix, 0) == 0);
  };
  check("null.test", Status::PermFail, "556 5.1.10 ");
  check("gone.test", Status::PermFail, "550 5.1.2 ");
  check("slow.test", Status::TempFail, "451 4.4.3 ");
  check("bare.test", Status::PermFail, "550 5.1.2 ");
  check("noaddr.test", Status::TempFail, "451 4.4.3 ");
}

TEST_CASE("smtp transport: MX hosts by preference, next address when one refuses") {
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p);
    transaction(p, {"250 ok"}, "250 via mx");
    quit(p);
  }});
  SmtpClientConfig c = Fixture::quick();
  c.port = server.port();
  Fixture f(c);
  // mx1 (best) has an address where nothing listens; mx2 is the server.
  f.lookup->mx_answers["example.org"] = mxs({{20, "mx2.example.org"}, {10, "mx1.example.org"}});
  f.lookup->address_answers["mx1.example.org"] = ips({"127.0.0.2"});
  f.lookup->address_answers["mx2.example.org"] = ips({"127.0.0.1"});
  auto out = f.deliver_wait(mx_delivery(f, "Example.ORG"));
  CHECK(out[0].status == Status::Delivered);
  CHECK(out[0].reply == "250 via mx");
  CHECK(out[0].remote_mta == "mx2.example.org [127.0.0.1]");
  CHECK(f.counter_value("postern_smtp_client_connections_total",
                        {{"route", "mx"}, {"kind", "opened"}}) == 2);
}

TEST_CASE("smtp transport: implicit MX, and an address literal without DNS") {
  ScriptServer server({[&](ScriptPeer& p) {
                         greet(p);
                         transaction(p, {"250 ok"}, "250 implicit");
                         quit(p);
                       },
                       [&](ScriptPeer& p) {
                         greet(p);
                         transaction(p, {"250 ok"}, "250 literal");
                         quit(p);
                       }});
  SmtpClientConfig c = Fixture::quick();
  c.port = server.port();
  Fixture f(c);
  f.lookup->mx_answers["plain.test"] = status<core::MxRecord>(core::DnsStatus::NoData);
  f.lookup->address_answers["plain.test"] = ips({"127.0.0.1"});
  auto out = f.deliver_wait(mx_delivery(f, "plain.test"));
  CHECK(out[0].reply == "250 implicit");
  CHECK(out[0].remote_mta == "plain.test [127.0.0.1]");
  out = f.deliver_wait(mx_delivery(f, "[127.0.0.1]"));
  CHECK(out[0].reply == "250 literal");
}

TEST_CASE("smtp transport: SMTPUTF8 message to a server without it fails 5.6.7") {
  Fixture f;
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p);
    quit(p);
  }});
  auto d = f.node_delivery(server.port(), {"bob@example.com"});
  d.smtputf8 = true;
  auto out = f.deliver_wait(d);
  CHECK(out[0].status == Status::PermFail);
  CHECK(out[0].reply.rfind("550 5.6.7 ", 0) == 0);
}

namespace {

// A TLS server context with a throw-away self-signed certificate.
std::shared_ptr<SSL_CTX> test_server_tls() {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("mx.tls.test"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, pkey, EVP_sha256());
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  SSL_CTX_use_certificate(ctx.get(), x);
  SSL_CTX_use_PrivateKey(ctx.get(), pkey);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return ctx;
}

}  // namespace

TEST_CASE("smtp transport: opportunistic STARTTLS with SNI, EHLO again under TLS") {
  auto server_tls = test_server_tls();
  std::string sni, version;
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p, "250-STARTTLS\r\n250 PIPELINING");
    CHECK(p.line() == "STARTTLS");
    p.send("220 2.0.0 go ahead\r\n");
    REQUIRE(p.start_tls(server_tls.get()));
    const char* name = SSL_get_servername(p.ssl(), TLSEXT_NAMETYPE_host_name);
    sni = name != nullptr ? name : "";
    version = SSL_get_version(p.ssl());
    CHECK(p.line() == "EHLO node1.test");
    p.send("250-mx.tls.test\r\n250 PIPELINING\r\n");
    std::string body = transaction(p, {"250 ok"}, "250 over tls");
    CHECK(body == "Subject: t\r\n\r\nhello\r\n");
    quit(p);
  }});
  SmtpClientConfig c = Fixture::quick();
  c.starttls = true;
  c.port = server.port();
  Fixture f(c, SmtpTransport::opportunistic_tls());
  f.lookup->mx_answers["tls.test"] = mxs({{10, "mx.tls.test"}});
  f.lookup->address_answers["mx.tls.test"] = ips({"127.0.0.1"});
  auto out = f.deliver_wait(mx_delivery(f, "tls.test"));
  CHECK(out[0].status == Status::Delivered);
  CHECK(out[0].reply == "250 over tls");
  server.wait_done();
  CHECK(sni == "mx.tls.test");
  CHECK((version == "TLSv1.2" || version == "TLSv1.3"));
}

TEST_CASE("smtp transport: a message of several chunks is streamed whole, dot-stuffed") {
  std::string message = "Subject: big\r\n\r\n";
  std::string stuffed = message;
  for (int i = 0; message.size() < 1'300'000; ++i) {
    std::string line = (i % 7 == 0 ? "." : "") + std::string(90, static_cast<char>('a' + i % 26));
    message += line + "\r\n";
    stuffed += (line[0] == '.' ? "." : "") + line + "\r\n";
  }
  Fixture f;
  std::string body;
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p);
    body = transaction(p, {"250 ok"}, "250 big");
    quit(p);
  }});
  auto out = f.deliver_wait(f.node_delivery(server.port(), {"bob@example.com"}, message));
  server.wait_done();
  CHECK(out[0].reply == "250 big");
  CHECK(body.size() == stuffed.size());
  CHECK(body == stuffed);
}

TEST_CASE("smtp transport: MAIL and RCPT parameters follow what EHLO offered") {
  Fixture f;
  ScriptServer server({[&](ScriptPeer& p) {
    greet(p, "250-SIZE 1000000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 DSN");
    transaction(p, {"250 ok"}, "250 done");
    quit(p);
  }});
  auto d = f.node_delivery(server.port(), {"bob@example.com"});
  d.eight_bit = true;
  d.smtputf8 = true;
  d.ret = "HDRS";
  d.envid = "abc+2B1";
  d.recipients[0].notify = "FAILURE,DELAY";
  d.recipients[0].orcpt = "rfc822;bob@example.com";
  auto out = f.deliver_wait(d);
  CHECK(out[0].status == Status::Delivered);
  server.wait_done();
  auto t = server.transcripts();
  REQUIRE(t.size() == 1);
  REQUIRE(t[0].size() >= 3);
  CHECK(t[0][1] == "MAIL FROM:<alice@example.com> SIZE=" + std::to_string(d.size) +
                       " BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc+2B1");
  CHECK(t[0][2] == "RCPT TO:<bob@example.com> NOTIFY=FAILURE,DELAY ORCPT=rfc822;bob@example.com");
}
