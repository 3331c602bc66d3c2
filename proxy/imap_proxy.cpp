#include "proxy/imap_proxy.hpp"

#include <strings.h>

#include <fmt/format.h>

#include "core/base64.hpp"
#include "core/imap_parser.hpp"
#include "core/log.hpp"
#include "core/sasl_plain.hpp"
#include "core/secret.hpp"
#include "proxy/imap_handback.hpp"

namespace postern::proxy {

namespace {

using core::imap::Command;
using core::imap::Token;

// Pre-login commands are small; a login literal is at most this.
core::imap::Limits prelogin_limits() {
  core::imap::Limits l;
  l.max_line = 8 * 1024;
  l.max_literal = 8 * 1024;
  l.max_depth = 4;
  l.max_tokens = 200;
  return l;
}

// How much client input one parser feed looks at.
constexpr std::size_t kFeedBytes = 4096;

bool is(const std::string& name, const char* word) {
  return strcasecmp(name.c_str(), word) == 0;
}

class ImapProxySession final : public ProxySession {
 public:
  using ProxySession::ProxySession;

 private:
  // Release: a kept connection's pending UNAUTHENTICATE (the last user's)
  // must succeed before the login's answers count; Replacing: it did not,
  // and the connection is on its way out.
  enum class Hop { Greeting, StartTls, TlsWait, Release, Login, Replacing };
  enum class SaslStep { None, PlainResponse, LoginUser, LoginPassword };

  std::string capabilities() const {
    std::string caps = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE";
    if (starttls_offered()) caps += " STARTTLS";
    caps += plaintext_allowed() ? " AUTH=PLAIN AUTH=LOGIN" : " LOGINDISABLED";
    return caps;
  }

  void greet() override {
    send(fmt::format("* OK [CAPABILITY {}] Postern ready.\r\n", capabilities()));
  }

  std::string goodbye(std::string_view why) const override {
    return fmt::format("* BYE {}\r\n", why);
  }

  void tagged(const std::string& tag, std::string_view status, std::string_view text) {
    send(fmt::format("{} {} {}\r\n", tag.empty() ? "*" : tag, status, text));
  }

  void on_client_input() override {
    while (state() == State::Login && !client().closed()) {
      // Take from the connection only what the parser is about to look at:
      // whatever waits behind a login stays in the connection, whose own
      // limit (max_input) bounds it.
      if (inbuf_.empty()) {
        inbuf_ = client().read_bytes(kFeedBytes);
        if (inbuf_.empty()) break;
      }
      auto r = parser_.feed(inbuf_);
      inbuf_.erase(0, r.consumed);
      switch (r.status) {
        case core::imap::Status::NeedMore:
          break;
        case core::imap::Status::Continuation:
          send("+ OK\r\n");
          break;
        case core::imap::Status::Line:
          sasl_line(std::move(r.line));
          break;
        case core::imap::Status::Error:
          if (bad_command()) return end("Too many invalid commands.");
          tagged(r.error.tag, "BAD", r.error.message);
          break;
        case core::imap::Status::Command:
          command(r.command);
          break;
      }
    }
  }

  void command(Command& c) {
    const std::string& n = c.name;
    if (n == "CAPABILITY") {
      send(fmt::format("* CAPABILITY {}\r\n", capabilities()));
      return tagged(c.tag, "OK", "Capability completed.");
    }
    if (n == "NOOP") return tagged(c.tag, "OK", "NOOP completed.");
    if (n == "LOGOUT") {
      send("* BYE Logging out.\r\n");
      tagged(c.tag, "OK", "Logout completed.");
      return quit("logout");
    }
    if (n == "ID") return id(c);
    if (n == "STARTTLS") {
      if (!starttls_offered()) {
        if (bad_command()) return end("Too many invalid commands.");
        return tagged(c.tag, "BAD", "STARTTLS is not available.");
      }
      tagged(c.tag, "OK", "Begin TLS negotiation now.");
      // Whatever the client sent after STARTTLS is not read under TLS.
      inbuf_.clear();
      parser_ = core::imap::ImapParser(prelogin_limits());
      return start_client_tls();
    }
    if (n == "LOGIN") {
      if (c.args.size() != 2 || c.args[0].kind == Token::Kind::List ||
          c.args[1].kind == Token::Kind::List) {
        if (bad_command()) return end("Too many invalid commands.");
        return tagged(c.tag, "BAD", "LOGIN expects a user name and a password.");
      }
      if (!plaintext_allowed()) {
        return tagged(c.tag, "NO", "[PRIVACYREQUIRED] Use STARTTLS before logging in.");
      }
      return login(c.tag, std::move(c.args[0].text), core::Secret(std::move(c.args[1].text)));
    }
    if (n == "AUTHENTICATE") return authenticate(c);
    if (bad_command()) return end("Too many invalid commands.");
    tagged(c.tag, "BAD", "Log in first.");
  }

  void id(const Command& c) {
    if (c.args.size() != 1 ||
        (c.args[0].kind != Token::Kind::List && c.args[0].kind != Token::Kind::Nil)) {
      if (bad_command()) return end("Too many invalid commands.");
      return tagged(c.tag, "BAD", "ID expects a parenthesised list or NIL.");
    }
    const auto& f = c.args[0].children;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      // A proxy in front of us counts hops down; we go on counting.
      if (is(f[i].text, "x-proxy-ttl")) {
        try {
          client_ttl_ = std::stoi(f[i + 1].text);
        } catch (...) {
          client_ttl_ = 0;
        }
      }
    }
    send("* ID (\"name\" \"Postern\" \"vendor\" \"Postern\")\r\n");
    tagged(c.tag, "OK", "ID completed.");
  }

  void authenticate(Command& c) {
    if (c.args.empty() || c.args[0].kind != Token::Kind::Atom) {
      if (bad_command()) return end("Too many invalid commands.");
      return tagged(c.tag, "BAD", "AUTHENTICATE expects a mechanism.");
    }
    if (!plaintext_allowed()) {
      return tagged(c.tag, "NO", "[PRIVACYREQUIRED] Use STARTTLS before logging in.");
    }
    sasl_tag_ = c.tag;
    const std::string& mech = c.args[0].text;
    if (is(mech, "PLAIN")) {
      if (c.args.size() > 1) return plain_response(c.args[1].text);
      sasl_ = SaslStep::PlainResponse;
      parser_.expect_line();
      return send("+ \r\n");
    }
    if (is(mech, "LOGIN")) {
      sasl_ = SaslStep::LoginUser;
      parser_.expect_line();
      return send("+ VXNlcm5hbWU6\r\n");  // "Username:"
    }
    tagged(c.tag, "NO", "Unsupported authentication mechanism.");
  }

  void sasl_line(std::string line) {
    const SaslStep step = sasl_;
    sasl_ = SaslStep::None;
    if (line == "*") return tagged(sasl_tag_, "BAD", "Authentication cancelled.");
    switch (step) {
      case SaslStep::PlainResponse:
        return plain_response(line);
      case SaslStep::LoginUser: {
        auto user = core::base64_decode(line);
        if (!user) return tagged(sasl_tag_, "BAD", "Invalid base64 data.");
        sasl_user_ = std::move(*user);
        sasl_ = SaslStep::LoginPassword;
        parser_.expect_line();
        return send("+ UGFzc3dvcmQ6\r\n");  // "Password:"
      }
      case SaslStep::LoginPassword: {
        auto password = core::base64_decode(line);
        if (!password) return tagged(sasl_tag_, "BAD", "Invalid base64 data.");
        return login(sasl_tag_, std::move(sasl_user_), core::Secret(std::move(*password)));
      }
      case SaslStep::None:
        break;
    }
  }

  void plain_response(std::string_view response) {
    auto creds = core::decode_plain(response);
    if (!creds) {
      if (creds.error() == core::PlainError::BadBase64)
        return tagged(sasl_tag_, "BAD", "Invalid base64 data.");
      return fail_login(sasl_tag_);
    }
    login(sasl_tag_, std::move(creds->user), std::move(creds->password));
  }

  void fail_login(const std::string& tag) {
    if (too_many_failures()) {
      tagged(tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
      return end("Too many failed logins.");
    }
    tagged(tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
  }

  void login(const std::string& tag, std::string user, core::Secret password) {
    login_tag_ = tag;
    int ttl = config().proxy_ttl;
    if (client_ttl_) ttl = std::min(ttl, *client_ttl_ - 1);
    if (ttl <= 0) {
      core::log_warn("proxy_loop").kv("sid", sid()).kv("user", user);
      return tagged(tag, "NO", "[UNAVAILABLE] Proxy loop detected.");
    }
    ttl_ = ttl;
    login_user_ = user;
    // With a master login the node never needs the user's password.
    password_ = config().master_user.empty() ? password.clone() : core::Secret();
    check_login(std::move(user), std::move(password), "imap", [this](Decision d) {
      switch (d.verdict) {
        case Verdict::Ok:
          return connect_node(d.account.node);
        case Verdict::Denied:
          password_ = core::Secret();
          return fail_login(login_tag_);
        case Verdict::TempFail:
        case Verdict::Unavailable:
          password_ = core::Secret();
          return tagged(login_tag_, "NO", "[UNAVAILABLE] Temporary failure; try again later.");
      }
    });
  }

  // ---- the node ----

  void on_node_connected() override { hop_ = Hop::Greeting; }

  void on_node_reused(std::string pending) override { send_id(std::move(pending)); }

  bool reuses_node_connections() const override { return config().node_pool_max_idle > 0; }

  std::unique_ptr<Handback> make_handback() override {
    if (!reuse_accepted_ || !reuses_node_connections() || draining()) return nullptr;
    // The pump calls back only while this session (its owner) exists.
    return std::make_unique<ImapHandback>(
        reuse_token_, [this](std::unique_ptr<core::Connection> c, std::string pending) {
          keep_node(std::move(c), std::move(pending));
        });
  }

  void node_failed(std::string_view) override {
    password_ = core::Secret();
    tagged(login_tag_, "NO", "[UNAVAILABLE] Server temporarily unavailable; try again later.");
  }

  void on_node_tls() override { send_id(); }

  // ID and the login go together: one write and one round trip less per
  // login (the node answers them in order). The ID also gives the node this
  // session's reuse token (proxy/imap_handback.hpp). On a kept connection
  // the last user's UNAUTHENTICATE, when still pending, goes first in the
  // same write. The password stays until the node answers: a kept
  // connection that turns out closed, or whose UNAUTHENTICATE fails, is
  // replaced and the login sent again.
  void send_id(std::string pending = {}) {
    hop_ = pending.empty() ? Hop::Login : Hop::Release;
    release_tag_ = pending.substr(0, pending.find(' ') + 1);
    reuse_accepted_ = false;
    // Sent even with the pool off: a node that holds a token keeps
    // UNAUTHENTICATE from the client, who must never get the connection
    // back to the not-authenticated state and send an ID of its own.
    if (reuse_token_.empty()) reuse_token_ = core::random_hex(16);
    if (reuse_token_.empty()) {
      // Without a token the node would let the client UNAUTHENTICATE.
      fail_node("no random bytes for the reuse token", false);
      return;
    }
    send_node(fmt::format(
        "{}P1 ID (\"x-originating-ip\" \"{}\" \"x-originating-port\" \"{}\" \"x-proxy-ttl\" "
        "\"{}\" \"x-session-id\" \"{}\" \"x-postern-reuse\" \"{}\")\r\nP2 AUTHENTICATE PLAIN "
        "{}\r\n",
        pending, peer().ip.to_string(), peer().port, ttl_, sid(), reuse_token_, handoff_plain()));
  }

  void on_node_input() override {
    read_node_lines(64 * 1024, [this](const std::string& line) { return node_line(line); });
  }

  // False when the handshake ended (failed or handed off).
  bool node_line(const std::string& line) {
    switch (hop_) {
      case Hop::Greeting:
        if (line.rfind("* OK", 0) != 0) {
          fail_node("unexpected greeting: " + line.substr(0, 80), false);
          return false;
        }
        node_greeted();
        if (hop_starttls()) {
          hop_ = Hop::StartTls;
          send_node("P0 STARTTLS\r\n");
        } else {
          send_id();
        }
        return true;
      case Hop::StartTls:
        if (line.rfind("P0 ", 0) != 0) return true;
        if (line.rfind("P0 OK", 0) != 0) {
          fail_node("STARTTLS refused: " + line.substr(0, 80), false);
          return false;
        }
        hop_ = Hop::TlsWait;
        start_node_tls();
        return false;
      case Hop::TlsWait:
      case Hop::Replacing:
        return true;
      case Hop::Release:
        // Anything before the answer was the last session's (the node
        // should have nothing left for it): no one's.
        if (line.rfind(release_tag_, 0) != 0) return true;
        if (line.compare(release_tag_.size(), 2, "OK") == 0) {
          node_greeted();
          hop_ = Hop::Login;
          return true;
        }
        core::log_warn("proxy_kept_node_refused")
            .kv("sid", sid())
            .kv("node", node_name())
            .kv("answer", line.substr(release_tag_.size(), 80));
        hop_ = Hop::Replacing;
        replace_kept_node();
        return false;
      case Hop::Login:
        return login_answer(line);
    }
    return false;
  }

  // The login replayed on the node: the master user acting for the account
  // the proxy verified (the node checks the master password, its own
  // trusted-proxy list and the account), or the client's own login.
  std::string handoff_plain() const {
    const auto& c = config();
    if (c.master_user.empty()) return core::encode_plain(login_user_, password_.reveal());
    return core::encode_plain(user_.empty() ? login_user_ : user_, c.master_user,
                              c.master_password.reveal());
  }

  bool login_answer(const std::string& line) {
    // The answer to our ID is ours alone (even a node that refuses ID can
    // take the login).
    if (line.rfind("* ID ", 0) == 0) {
      if (line.find("\"x-postern-reuse\" \"accepted\"") != std::string::npos)
        reuse_accepted_ = true;
      return true;
    }
    if (line.rfind("P1 ", 0) == 0) return true;
    if (line.rfind("P2 ", 0) != 0) {
      if (line.rfind("* ", 0) == 0)
        send(line + "\r\n");  // e.g. * CAPABILITY
      else {
        fail_node("unexpected answer to the login: " + line.substr(0, 80), false);
        return false;
      }
      return true;
    }
    std::string rest = line.substr(3);
    password_ = core::Secret();
    if (rest.rfind("OK", 0) == 0) {
      send(fmt::format("{} {}\r\n", login_tag_, rest));
      node_ready();
      // Commands pipelined behind the login go back in front of the
      // client's input: the pump passes them on first (and watches them
      // for a LOGOUT).
      client().unread(inbuf_);
      inbuf_.clear();
      start_pump();
      return false;
    }
    // The node said no (its own directory check, or no such user there).
    core::log_warn("proxy_node_refused").kv("sid", sid()).kv("user", user_).kv("answer", rest);
    send(fmt::format("{} {}\r\n", login_tag_, rest));
    drop_node();
    if (node_refused_login()) {
      end("Too many failed logins.");
      return false;
    }
    enter_state(State::Login);
    return false;
  }

  core::imap::ImapParser parser_{prelogin_limits()};
  std::string inbuf_;  // read from the client, not parsed yet
  Hop hop_ = Hop::Greeting;
  SaslStep sasl_ = SaslStep::None;
  std::string sasl_tag_;
  std::string sasl_user_;
  std::string login_tag_;
  std::string login_user_;
  core::Secret password_;        // replayed to the node, wiped when it answers
  std::string release_tag_;      // "<tag> " of the pending UNAUTHENTICATE (Hop::Release)
  std::string reuse_token_;      // given to the node in ID (pool on)
  bool reuse_accepted_ = false;  // the node took it: LOGOUT keeps the connection
  std::optional<int> client_ttl_;
  int ttl_ = 0;
};

}  // namespace

std::shared_ptr<ProxySession> make_imap_session(ProxyContext& ctx, core::EventLoop& loop,
                                                core::Accepted accepted,
                                                ProxySession::Ended ended) {
  return std::make_shared<ImapProxySession>(ctx, loop, std::move(accepted), "imap",
                                            std::move(ended));
}

}  // namespace postern::proxy
