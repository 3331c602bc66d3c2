// Commands valid in any state, and the not-authenticated state's: CAPABILITY,
// NOOP, LOGOUT, ID, ENABLE, STARTTLS, LOGIN, AUTHENTICATE (RFC 3501 6.1-6.2,
// RFC 2971, RFC 5161, RFC 4959), and login's inverse UNAUTHENTICATE (RFC 8437).
#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

#include "backend/imap/imap_service.hpp"
#include "backend/imap/session.hpp"
#include "backend/imap/session_worker.hpp"
#include "backend/mime/encoded_words.hpp"
#include "core/log.hpp"

namespace postern::node::imap {

namespace {

constexpr std::chrono::milliseconds kFailedLoginDelay{1000};
// x-postern-reuse: long enough not to be guessed, short enough to log nowhere
// and compare cheaply.
constexpr std::size_t kMinReuseToken = 16;
constexpr std::size_t kMaxReuseToken = 64;

bool is_string(const core::imap::Token& t) {
  return t.kind == core::imap::Token::Kind::Atom || t.kind == core::imap::Token::Kind::Quoted ||
         t.kind == core::imap::Token::Kind::Literal;
}

// "%40" style escaping for the user part of an IMAP URL (RFC 5092).
std::string url_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

bool valid_reuse_token(std::string_view s) {
  if (s.size() < kMinReuseToken || s.size() > kMaxReuseToken) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
}

}  // namespace

std::string Session::capabilities() const {
  std::string caps = "IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE";
  if (node_.config.login_referrals) caps += " LOGIN-REFERRALS";
  if (state_ == State::NotAuthenticated) {
    if (listener_.starttls_available() && !conn_->tls_active()) caps += " STARTTLS";
    if (plaintext_login_allowed(*conn_, listener_)) {
      caps += " AUTH=PLAIN";
    } else {
      caps += " LOGINDISABLED";
    }
    return caps;
  }
  caps += " NAMESPACE UIDPLUS MOVE SPECIAL-USE UNSELECT CHILDREN CONDSTORE BINARY";
  // With a reuse token only the proxy may unauthenticate, so clients are not
  // told they could.
  if (reuse_token_.empty()) caps += " UNAUTHENTICATE";
  return caps;
}

void Session::cmd_capability(Command& c) {
  if (!c.args.empty()) return reject(c.tag, "CAPABILITY takes no arguments.");
  send(fmt::format("* CAPABILITY {}\r\n", capabilities()));
  complete(c.tag, "OK", "Capability completed.");
}

void Session::cmd_noop(Command& c) {
  changes_pending_ = changes_pending_ || selected_.has_value();
  complete(c.tag, "OK", "NOOP completed.");
}

void Session::cmd_logout(Command& c) {
  send("* BYE Logging out.\r\n");
  send(fmt::format("{} OK Logout completed.\r\n", c.tag));
  log_logout("logout");
  state_ = State::Logout;
  release_output();
  conn_->close_after_flush();
}

void Session::cmd_id(Command& c) {
  if (c.args.size() != 1 ||
      (c.args[0].kind != Token::Kind::List && c.args[0].kind != Token::Kind::Nil)) {
    return reject(c.tag, "ID expects a parenthesised list or NIL.");
  }
  const auto& fields = c.args[0].children;
  // RFC 2971: at most 30 pairs, field names up to 30 octets.
  if (fields.size() % 2 != 0 || fields.size() > 60) {
    return reject(c.tag, "ID expects field/value pairs.");
  }
  const bool trusted = node_.config.trusted_proxies.contains(peer_.ip);
  bool reuse_accepted = false;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& key = fields[i].text;
    const std::string& value = fields[i + 1].text;
    if (!trusted || state_ != State::NotAuthenticated) continue;
    if (strcasecmp(key.c_str(), "x-originating-ip") == 0) {
      if (auto ip = core::IpAddress::parse(value)) forwarded_ip_ = ip->to_string();
    } else if (strcasecmp(key.c_str(), "x-originating-port") == 0) {
      if (!value.empty() && value.size() <= 5 &&
          value.find_first_not_of("0123456789") == std::string::npos) {
        forwarded_port_ = value;
      }
    } else if (strcasecmp(key.c_str(), "x-postern-reuse") == 0) {
      if (is_string(fields[i + 1]) && valid_reuse_token(value)) {
        reuse_token_ = value;
        reuse_accepted = true;
      }
    }
  }
  if (forwarded_ip_) {
    core::log_info("imap_forwarded")
        .kv("proxy", peer_.ip.to_string())
        .kv("client", client_address());
  }
  // The proxy looks for exactly this pair before it pools the connection.
  send(reuse_accepted ? "* ID (\"name\" \"Postern\" \"vendor\" \"Postern\" \"x-postern-reuse\" "
                        "\"accepted\")\r\n"
                      : "* ID (\"name\" \"Postern\" \"vendor\" \"Postern\")\r\n");
  complete(c.tag, "OK", "ID completed.");
}

void Session::cmd_enable(Command& c) {
  if (c.args.empty()) {
    return reject(c.tag, "ENABLE needs at least one capability.");
  }
  std::string enabled;
  for (const auto& t : c.args) {
    if (t.kind != Token::Kind::Atom) continue;
    if (strcasecmp(t.text.c_str(), "CONDSTORE") == 0 && !condstore_) {
      condstore_ = true;
      enabled += " CONDSTORE";
    }
  }
  send(fmt::format("* ENABLED{}\r\n", enabled));
  complete(c.tag, "OK", "Enabled.");
}

void Session::cmd_unauthenticate(Command& c) {
  if (reuse_token_.empty()) {
    if (!c.args.empty()) return reject(c.tag, "UNAUTHENTICATE takes no arguments.");
  } else {
    // Whoever the proxy relays for must not end the session: only the proxy
    // knows the token. Same answer for a missing and a wrong one.
    const bool match =
        c.args.size() == 1 && is_string(c.args[0]) &&
        c.args[0].text.size() == reuse_token_.size() &&
        CRYPTO_memcmp(c.args[0].text.data(), reuse_token_.data(), reuse_token_.size()) == 0;
    if (!match) return reject(c.tag, "UNAUTHENTICATE is not available on this session.");
  }
  const bool for_proxy = !reuse_token_.empty();
  log_logout("unauthenticate");
  forget_user();
  if (for_proxy) {
    // The proxy gives the connection to another client next, and bounds
    // each client's failures itself: one user's mistakes must not count
    // against the next.
    failed_logins_ = 0;
    bad_commands_ = 0;
  }
  complete(c.tag, "OK", "Unauthenticate completed.");
}

void Session::forget_user() {
  // RFC 8437: the selected mailbox closes without expunging (as UNSELECT).
  close_mailbox();
  ++epoch_;  // an IDLE's sync still running reports nothing now
  sync_running_ = false;
  idling_ = false;
  idle_tag_.clear();
  idle_poll_.reset();
  on_drained_ = nullptr;
  auth_pending_ = false;
  auth_tag_.clear();
  condstore_ = false;  // ENABLE'd extensions end with the user
  expunge_ok_ = true;
  user_.clear();
  account_.reset();
  login_user_.clear();
  login_master_.clear();
  // The next ID from the proxy says who the next client is.
  forwarded_ip_.reset();
  forwarded_port_.clear();
  std::fill(reuse_token_.begin(), reuse_token_.end(), '\0');
  reuse_token_.clear();
  // failed_logins_ and bad_commands_ stay for a direct client (the
  // connection's bounds hold whoever uses it); cmd_unauthenticate resets
  // them for the proxy.
  commands_ = 0;
  fetched_bytes_ = 0;
  appended_ = 0;
  expunged_ = 0;
  started_ = std::chrono::steady_clock::now();
  state_ = State::NotAuthenticated;
}

void Session::cmd_starttls(Command& c) {
  if (!listener_.starttls_available() || conn_->tls_active()) {
    complete(c.tag, "BAD", "STARTTLS is not available here.");
    return;
  }
  send(fmt::format("{} OK Begin TLS negotiation now.\r\n", c.tag));
  // Whatever the client pipelined after STARTTLS was sent in the clear and
  // is dropped with the parser's state (RFC 3501 6.2.1, CVE-2011-0411).
  parser_ = core::imap::ImapParser(core::imap::Limits{});
  release_output();  // in the clear, before the handshake
  if (!conn_->start_tls(listener_.tls)) {
    bye("TLS negotiation failed.");
    return;
  }
  core::log_info("imap_starttls").kv("client", client_address());
  // busy_ stays set: nothing is read until the handshake completes
  // (on_tls_ready continues).
  starttls_pending_ = true;
}

void Session::cmd_login(Command& c) {
  if (c.args.size() != 2 || !is_string(c.args[0]) || !is_string(c.args[1])) {
    return reject(c.tag, "LOGIN expects a user name and a password.");
  }
  if (!plaintext_login_allowed(*conn_, listener_)) {
    complete(c.tag, "NO",
             "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections.");
    return;
  }
  login(c.tag, std::move(c.args[0].text), core::Secret(std::move(c.args[1].text)));
}

void Session::cmd_authenticate(Command& c) {
  if (c.args.empty() || c.args.size() > 2 || c.args[0].kind != Token::Kind::Atom) {
    return reject(c.tag, "AUTHENTICATE expects a mechanism name.");
  }
  if (strcasecmp(c.args[0].text.c_str(), "PLAIN") != 0) {
    complete(c.tag, "NO", "[CANNOT] Unsupported authentication mechanism.");
    return;
  }
  if (!plaintext_login_allowed(*conn_, listener_)) {
    complete(c.tag, "NO",
             "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections.");
    return;
  }
  if (c.args.size() == 2) {  // SASL-IR (RFC 4959); "=" is an empty response
    return authenticate_plain(c.tag, c.args[1].text == "=" ? "" : c.args[1].text);
  }
  send("+ \r\n");
  auth_pending_ = true;
  auth_tag_ = c.tag;
  parser_.expect_line();
  busy_ = false;  // pump() must read the response line
}

void Session::authenticate_plain(const std::string& tag, std::string_view base64) {
  std::string decoded;
  if (!mime::decode_base64(base64, decoded)) {
    return reject(tag, "Invalid base64 in the PLAIN response.");
  }
  // RFC 4616: authzid NUL authcid NUL passwd
  auto first = decoded.find('\0');
  auto second = first == std::string::npos ? first : decoded.find('\0', first + 1);
  if (second == std::string::npos) {
    std::fill(decoded.begin(), decoded.end(), '\0');
    return reject(tag, "Malformed PLAIN response.");
  }
  std::string authzid = decoded.substr(0, first);
  std::string authcid = decoded.substr(first + 1, second - first - 1);
  core::Secret password(decoded.substr(second + 1));
  std::fill(decoded.begin(), decoded.end(), '\0');
  // Acting for someone else: only a proxy's master login may
  // (check_master_login refuses everyone else).
  if (!authzid.empty() && strcasecmp(authzid.c_str(), authcid.c_str()) != 0) {
    return master_login(tag, std::move(authzid), std::move(authcid), std::move(password));
  }
  login(tag, std::move(authcid), std::move(password));
}

void Session::login(const std::string& tag, std::string user, core::Secret password) {
  login_user_ = user;
  login_master_.clear();
  if (user.empty() || user.size() > 256) {
    fail_login(tag, "[AUTHENTICATIONFAILED] Authentication failed.", "bad_user_name", user);
    return;
  }
  check_login(node_, "imap", user, std::move(password), loop_, on_login_checked(tag));
}

void Session::master_login(const std::string& tag, std::string user, std::string master,
                           core::Secret password) {
  login_user_ = user;
  login_master_ = master;
  if (user.size() > 256 || master.empty() || master.size() > 256) {
    fail_login(tag, "[AUTHENTICATIONFAILED] Authentication failed.", "bad_user_name", user);
    return;
  }
  // The socket's peer, not an ID-forwarded address: the proxy itself.
  check_master_login(node_, "imap", user, master, std::move(password), peer_.ip, loop_,
                     on_login_checked(tag));
}

std::function<void(LoginResult)> Session::on_login_checked(const std::string& tag) {
  std::weak_ptr<Session> weak = weak_from_this();
  return [weak, tag](LoginResult r) {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    if (r.outcome != LoginOutcome::Ok) {
      self->login_done(tag, std::move(r));
      return;
    }
    // Open (and on first use create) the account before saying OK.
    std::string address = r.account.address;
    auto& store = self->node_.store;
    self->on_worker(
        tag, [&store, address] { return store.account(address); },
        [self, tag,
         r = std::move(r)](store::StoreResult<std::shared_ptr<store::AccountStore>> acc) mutable {
          if (!acc) {
            r.outcome = LoginOutcome::TempFail;
            r.detail = fmt::format("store: {}", store::store_error_name(acc.error()));
          } else {
            self->account_ = std::move(*acc);
          }
          self->login_done(tag, std::move(r));
        });
  };
}

void Session::fail_login(const std::string& tag, std::string_view code_and_text,
                         std::string_view reason, const std::string& user) {
  ++failed_logins_;
  service_.metrics().login_failed.inc();
  {
    auto line = core::log_info("imap_login");
    line.kv("result", "failed").kv("user", user);
    if (!login_master_.empty()) line.kv("master", login_master_);
    line.kv("client", client_address()).kv("reason", reason);
  }
  // A short pause slows password guessing down (the seeds' error control).
  delayed_tag_ = tag;
  delayed_text_ = std::string(code_and_text);
  if (!login_delay_) {
    std::weak_ptr<Session> weak = weak_from_this();
    login_delay_ = std::make_unique<core::Timer>(loop_, [weak] {
      auto self = weak.lock();
      if (!self || self->closed_) return;
      std::string t = std::move(self->delayed_tag_);
      std::string text = std::move(self->delayed_text_);
      if (self->failed_logins_ >= self->listener_.errors.max_failed_logins) {
        self->send(fmt::format("{} NO {}\r\n", t, text));
        self->bye("Too many failed logins.");
        return;
      }
      self->complete(t, "NO", text);
    });
  }
  login_delay_->arm(kFailedLoginDelay);
}

void Session::login_done(const std::string& tag, LoginResult r) {
  const std::string& user = r.account.address.empty() ? login_user_ : r.account.address;
  switch (r.outcome) {
    case LoginOutcome::Ok:
      user_ = r.account.address;
      state_ = State::Authenticated;
      service_.metrics().login_ok.inc();
      {
        auto line = core::log_info("imap_login");
        line.kv("result", "ok").kv("user", user_);
        if (!r.master.empty()) line.kv("master", r.master);
        line.kv("client", client_address()).kv("tls", conn_->tls_active());
      }
      complete(tag, "OK", fmt::format("[CAPABILITY {}] Logged in.", capabilities()));
      return;
    case LoginOutcome::Denied:
      return fail_login(tag, "[AUTHENTICATIONFAILED] Authentication failed.", r.detail, user);
    case LoginOutcome::ServiceDisabled:
      return fail_login(tag, "[AUTHORIZATIONFAILED] IMAP is not enabled for this account.",
                        r.detail, user);
    case LoginOutcome::WrongNode:
      service_.metrics().login_wrong_node.inc();
      {
        auto line = core::log_info("imap_login");
        line.kv("result", "wrong_node").kv("user", user);
        if (!r.master.empty()) line.kv("master", r.master);
        line.kv("client", client_address()).kv("reason", r.detail);
      }
      if (node_.config.login_referrals && !r.account.node.empty()) {
        complete(tag, "NO",
                 fmt::format("[REFERRAL imap://{};AUTH=*@{}/] This account is served by {}.",
                             url_escape(user), r.account.node, r.account.node));
      } else {
        complete(tag, "NO", "[UNAVAILABLE] This account is not served by this node.");
      }
      return;
    case LoginOutcome::TempFail:
      service_.metrics().login_tempfail.inc();
      {
        auto line = core::log_info("imap_login");
        line.kv("result", "tempfail").kv("user", user);
        if (!r.master.empty()) line.kv("master", r.master);
        line.kv("client", client_address()).kv("reason", r.detail);
      }
      complete(tag, "NO", "[UNAVAILABLE] Temporary failure, try again later.");
      return;
  }
}

}  // namespace postern::node::imap
