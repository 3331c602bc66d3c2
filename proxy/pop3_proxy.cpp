#include "proxy/pop3_proxy.hpp"

#include <fmt/format.h>

#include "core/base64.hpp"
#include "core/log.hpp"
#include "core/pop3_codec.hpp"
#include "core/sasl_plain.hpp"

namespace postern::proxy {

namespace {

class Pop3ProxySession final : public ProxySession {
 public:
  using ProxySession::ProxySession;

 private:
  enum class Hop { Greeting, StartTls, TlsWait, Xclient, Login };
  enum class SaslStep { None, PlainResponse, LoginUser, LoginPassword };

  void greet() override { send("+OK Postern ready.\r\n"); }

  std::string goodbye(std::string_view why) const override {
    return fmt::format("-ERR [SYS/TEMP] {}\r\n", why);
  }

  void reply(std::string_view line) { send(fmt::format("{}\r\n", line)); }

  void on_client_input() override {
    while (state() == State::Login && !client().closed()) {
      // Only what the codec is about to look at leaves the connection (see
      // imap_proxy.cpp).
      if (inbuf_.empty()) {
        inbuf_ = client().read_bytes(4096);
        if (inbuf_.empty()) break;
      }
      auto r = codec_.feed(inbuf_);
      inbuf_.erase(0, r.consumed);
      switch (r.status) {
        case core::pop3::CodecStatus::NeedMore:
          break;
        case core::pop3::CodecStatus::TooLong:
          if (bad_command()) return end("Too many invalid commands");
          reply("-ERR Line too long");
          break;
        case core::pop3::CodecStatus::Line:
          sasl_line(std::move(r.line));
          break;
        case core::pop3::CodecStatus::Command:
          command(r.command);
          break;
      }
    }
  }

  void invalid(std::string_view text) {
    if (bad_command()) return end("Too many invalid commands");
    reply(fmt::format("-ERR {}", text));
  }

  void command(const core::pop3::Pop3Command& c) {
    const std::string& n = c.name;
    if (n.empty()) return invalid("Empty command");
    if (n == "CAPA") return capa();
    if (n == "QUIT") {
      reply("+OK Bye");
      return quit("quit");
    }
    if (n == "STLS") {
      if (!starttls_offered()) return invalid("STLS is not available");
      reply("+OK Begin TLS negotiation");
      inbuf_.clear();
      codec_.reset();
      return start_client_tls();
    }
    if (n == "USER") {
      if (c.rest.empty()) return invalid("USER needs a name");
      if (!plaintext_allowed()) return refuse_plaintext();
      pending_user_ = c.rest;
      return reply("+OK");
    }
    if (n == "PASS") {
      if (pending_user_.empty()) return invalid("USER first");
      if (!plaintext_allowed()) return refuse_plaintext();
      std::string user = std::move(pending_user_);
      pending_user_.clear();
      return login(std::move(user), core::Secret(c.rest));
    }
    if (n == "AUTH") return auth(c);
    invalid("Unknown command or not allowed before login");
  }

  void refuse_plaintext() {
    reply("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections");
  }

  void capa() {
    std::string out =
        "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
        "PIPELINING\r\n";
    if (plaintext_allowed()) out += "USER\r\nSASL PLAIN LOGIN\r\n";
    if (starttls_offered()) out += "STLS\r\n";
    out += "IMPLEMENTATION Postern\r\n.\r\n";
    send(out);
  }

  void auth(const core::pop3::Pop3Command& c) {
    if (c.args.empty()) {
      // Clients (and Dovecot) list mechanisms with a bare AUTH.
      return send(plaintext_allowed() ? "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n" : "+OK\r\n.\r\n");
    }
    if (!plaintext_allowed()) return refuse_plaintext();
    std::string mech = c.args[0];
    for (auto& ch : mech) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (mech == "PLAIN") {
      if (c.args.size() > 1) return plain_response(c.args[1]);
      sasl_ = SaslStep::PlainResponse;
      codec_.expect_line();
      return reply("+ ");
    }
    if (mech == "LOGIN") {
      sasl_ = SaslStep::LoginUser;
      codec_.expect_line();
      return reply("+ VXNlcm5hbWU6");
    }
    invalid("Unsupported authentication mechanism");
  }

  void sasl_line(std::string line) {
    const SaslStep step = sasl_;
    sasl_ = SaslStep::None;
    if (line == "*") return reply("-ERR Authentication cancelled");
    switch (step) {
      case SaslStep::PlainResponse:
        return plain_response(line);
      case SaslStep::LoginUser: {
        auto user = core::base64_decode(line);
        if (!user) return invalid("Invalid base64 data");
        sasl_user_ = std::move(*user);
        sasl_ = SaslStep::LoginPassword;
        codec_.expect_line();
        return reply("+ UGFzc3dvcmQ6");
      }
      case SaslStep::LoginPassword: {
        auto password = core::base64_decode(line);
        if (!password) return invalid("Invalid base64 data");
        return login(std::move(sasl_user_), core::Secret(std::move(*password)));
      }
      case SaslStep::None:
        break;
    }
  }

  void plain_response(std::string_view response) {
    auto creds = core::decode_plain(response);
    if (!creds) {
      if (creds.error() == core::PlainError::BadBase64) return invalid("Invalid base64 data");
      return fail_login();
    }
    login(std::move(creds->user), std::move(creds->password));
  }

  void fail_login() {
    reply("-ERR [AUTH] Authentication failed.");
    if (too_many_failures()) quit("too many failed logins");
  }

  void login(std::string user, core::Secret password) {
    login_user_ = user;
    // With a master login the node never needs the user's password.
    password_ = config().master_user.empty() ? password.clone() : core::Secret();
    check_login(std::move(user), std::move(password), "pop3", [this](Decision d) {
      switch (d.verdict) {
        case Verdict::Ok:
          return connect_node(d.account.node);
        case Verdict::Denied:
          password_ = core::Secret();
          return fail_login();
        case Verdict::TempFail:
        case Verdict::Unavailable:
          password_ = core::Secret();
          return reply("-ERR [SYS/TEMP] Temporary failure; try again later");
      }
    });
  }

  // ---- the node ----

  void on_node_connected() override { hop_ = Hop::Greeting; }

  void node_failed(std::string_view) override {
    password_ = core::Secret();
    reply("-ERR [SYS/TEMP] Server temporarily unavailable; try again later");
  }

  void on_node_tls() override { send_xclient(); }

  // XCLIENT and the login go together (the node takes PIPELINING): one
  // write and one round trip less per login.
  void send_xclient() {
    hop_ = Hop::Xclient;
    send_node(fmt::format("XCLIENT ADDR={} PORT={}\r\nAUTH PLAIN {}\r\n", peer().ip.to_string(),
                          peer().port, handoff_plain()));
  }

  // The login replayed on the node: the master user acting for the account
  // the proxy verified, or the client's own login (as imap_proxy.cpp).
  std::string handoff_plain() const {
    const auto& c = config();
    if (c.master_user.empty()) return core::encode_plain(login_user_, password_.reveal());
    return core::encode_plain(user_.empty() ? login_user_ : user_, c.master_user,
                              c.master_password.reveal());
  }

  void on_node_input() override {
    read_node_lines(8 * 1024, [this](const std::string& line) { return node_line(line); });
  }

  bool node_line(const std::string& line) {
    const bool ok = line.rfind("+OK", 0) == 0;
    switch (hop_) {
      case Hop::Greeting:
        if (!ok) {
          fail_node("unexpected greeting: " + line.substr(0, 80), false);
          return false;
        }
        node_greeted();
        if (hop_starttls()) {
          hop_ = Hop::StartTls;
          send_node("STLS\r\n");
        } else {
          send_xclient();
        }
        return true;
      case Hop::StartTls:
        if (!ok) {
          fail_node("STLS refused: " + line.substr(0, 80), false);
          return false;
        }
        hop_ = Hop::TlsWait;
        start_node_tls();
        return false;
      case Hop::TlsWait:
        return true;
      case Hop::Xclient:
        // A node that does not take XCLIENT from us logs our address, but
        // the login still works.
        if (!ok) core::log_warn("proxy_xclient_refused").kv("sid", sid()).kv("node", node_name_);
        hop_ = Hop::Login;
        return true;
      case Hop::Login:
        if (line.rfind("+ ", 0) == 0 || line == "+") {
          fail_node("the node did not take the initial response", false);
          return false;
        }
        password_ = core::Secret();
        reply(line);
        if (ok) {
          node_ready();
          if (!inbuf_.empty()) send_node(inbuf_);
          inbuf_.clear();
          start_pump();
        } else {
          core::log_warn("proxy_node_refused")
              .kv("sid", sid())
              .kv("user", user_)
              .kv("answer", line);
          drop_node();
          if (node_refused_login()) {
            quit("too many failed logins");
            return false;
          }
          enter_state(State::Login);
        }
        return false;
    }
    return false;
  }

  core::pop3::Pop3Codec codec_;
  std::string inbuf_;
  Hop hop_ = Hop::Greeting;
  SaslStep sasl_ = SaslStep::None;
  std::string pending_user_;
  std::string sasl_user_;
  std::string login_user_;
  core::Secret password_;
};

}  // namespace

std::shared_ptr<ProxySession> make_pop3_session(ProxyContext& ctx, core::EventLoop& loop,
                                                core::Accepted accepted,
                                                ProxySession::Ended ended) {
  return std::make_shared<Pop3ProxySession>(ctx, loop, std::move(accepted), "pop3",
                                            std::move(ended));
}

}  // namespace postern::proxy
