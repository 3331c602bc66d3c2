// The AUTHORIZATION state of a POP3 session: USER/PASS, AUTH PLAIN, and
// opening the maildrop once the directory said yes.
#include <fmt/format.h>

#include "backend/pop3/pop3_session.hpp"
#include "core/log.hpp"
#include "core/sasl_plain.hpp"

namespace postern::node::pop3 {

namespace {

// Seeds' failed-authentication delay: slows down password guessing without
// holding anything but a timer.
constexpr std::chrono::milliseconds kFailedLoginDelay{1000};

// RFC 2449: names of at most 255 octets; ours are e-mail addresses.
constexpr std::size_t kMaxUserName = 255;

struct OpenedMaildrop {
  store::StoreError error = store::StoreError::Io;
  bool ok = false;
  std::shared_ptr<store::AccountStore> account;
  Maildrop maildrop;
};

}  // namespace

bool Pop3Session::plaintext_refused() {
  if (plaintext_login_allowed(*conn_, listener_)) return false;
  reply("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections");
  return true;
}

void Pop3Session::user(const CheckedCommand& c) {
  if (plaintext_refused()) return;
  if (c.text.size() > kMaxUserName) {
    bad_command("User name too long");
    return;
  }
  pending_user_ = c.text;
  reply("+OK");
}

void Pop3Session::pass(const CheckedCommand& c) {
  if (plaintext_refused()) return;
  if (pending_user_.empty()) {
    bad_command("No user name given (USER first)");
    return;
  }
  std::string user = std::move(pending_user_);
  pending_user_.clear();
  begin_login(std::move(user), core::Secret(c.text));
}

void Pop3Session::auth(const CheckedCommand& c) {
  if (c.text.empty()) {
    // Not in RFC 5034, but clients (and Dovecot) use a bare AUTH to list mechanisms.
    out(plaintext_login_allowed(*conn_, listener_) ? "+OK\r\nPLAIN\r\n.\r\n" : "+OK\r\n.\r\n");
    return;
  }
  if (c.text != "PLAIN") {
    bad_command("Unsupported authentication mechanism");
    return;
  }
  if (plaintext_refused()) return;
  if (c.has_initial) {
    plain_login(c.initial);
    return;
  }
  // RFC 5034 section 4: an empty server challenge, then one line of base64.
  codec_.expect_line();
  reply("+ ");
}

void Pop3Session::auth_response(const std::string& line) {
  if (line == "*") {
    reply("-ERR Authentication cancelled");
    return;
  }
  plain_login(line);
}

void Pop3Session::plain_login(std::string_view response) {
  auto credentials = core::decode_plain(response, core::AuthzidPolicy::Return);
  if (!credentials) {
    if (credentials.error() == core::PlainError::BadBase64) {
      bad_command("Invalid base64 data");
      return;
    }
    login_user_.clear();
    core::log_info("pop3_login")
        .kv("sid", sid_)
        .kv("client", client_.to_string())
        .kv("ok", 0)
        .kv("outcome", "denied")
        .kv("detail", core::plain_error_name(credentials.error()));
    ctx_.metrics.login("denied");
    busy_ = true;
    login_failed("-ERR [AUTH] Authentication failed.", true);
    return;
  }
  if (credentials->user.size() > kMaxUserName || credentials->authzid.size() > kMaxUserName) {
    bad_command("User name too long");
    return;
  }
  // Acting for someone else: only a proxy's master login may
  // (check_master_login refuses everyone else).
  if (!credentials->authzid.empty()) {
    begin_master_login(std::move(credentials->authzid), std::move(credentials->user),
                       std::move(credentials->password));
    return;
  }
  begin_login(std::move(credentials->user), std::move(credentials->password));
}

void Pop3Session::begin_login(std::string user, core::Secret password) {
  busy_ = true;
  login_user_ = user;
  login_master_.clear();
  std::weak_ptr<Pop3Session> weak = weak_from_this();
  check_login(ctx_.node, "pop3", user, std::move(password), loop_, [weak](LoginResult r) {
    auto self = weak.lock();
    if (self && !self->closed_) self->on_login(std::move(r));
  });
}

void Pop3Session::begin_master_login(std::string user, std::string master, core::Secret password) {
  busy_ = true;
  login_user_ = user;
  login_master_ = master;
  std::weak_ptr<Pop3Session> weak = weak_from_this();
  // The socket's peer (the proxy), not the XCLIENT-forwarded client.
  check_master_login(ctx_.node, "pop3", user, master, std::move(password), conn_->peer().ip, loop_,
                     [weak](LoginResult r) {
                       auto self = weak.lock();
                       if (self && !self->closed_) self->on_login(std::move(r));
                     });
}

void Pop3Session::on_login(LoginResult result) {
  const bool ok = result.outcome == LoginOutcome::Ok;
  std::shared_ptr<MaildropLocks::Lock> lock;
  if (ok) lock = ctx_.locks.try_lock(result.account.address);
  const std::string_view outcome =
      ok && !lock ? std::string_view("in_use") : login_outcome_name(result.outcome);
  ctx_.metrics.login(outcome);
  {
    auto line = core::log_info("pop3_login");
    line.kv("sid", sid_)
        .kv("client", client_.to_string())
        .kv("user", login_user_)
        .kv("account", result.account.address);
    if (!result.master.empty()) line.kv("master", result.master);
    line.kv("ok", ok && lock ? 1 : 0).kv("outcome", outcome).kv("detail", result.detail);
  }
  switch (result.outcome) {
    case LoginOutcome::Ok:
      if (!lock) {
        login_failed("-ERR [IN-USE] Maildrop is locked by another POP3 session", false);
        return;
      }
      lock_ = std::move(lock);
      open_maildrop(result.account.address);
      return;
    case LoginOutcome::Denied:
      login_failed("-ERR [AUTH] Authentication failed.", true);
      return;
    case LoginOutcome::ServiceDisabled:
      login_failed("-ERR [AUTH] POP3 access is disabled for this account", true);
      return;
    case LoginOutcome::WrongNode:
      login_failed("-ERR [SYS/TEMP] This account is not served here; try again later", false);
      return;
    case LoginOutcome::TempFail:
      login_failed("-ERR [SYS/TEMP] Temporary authentication failure; try again later", false);
      return;
  }
}

void Pop3Session::login_failed(std::string_view reply_line, bool delay) {
  if (!delay) {
    reply(reply_line);
    finish_command();
    return;
  }
  // Counted now, answered after the delay (the timer ends the command).
  ++failed_logins_;
  pending_reply_ = std::string(reply_line);
  delay_.arm(kFailedLoginDelay);
}

void Pop3Session::open_maildrop(const std::string& address) {
  store::Store* store = &ctx_.node.store;
  const bool queued = run_blocking(
      [store, address] {
        OpenedMaildrop out;
        auto account = store->account(address);
        if (!account) {
          out.error = account.error();
          return out;
        }
        auto inbox = (*account)->find_mailbox("INBOX");
        if (!inbox) {
          out.error = inbox.error();
          return out;
        }
        auto list = (*account)->list(inbox->id);
        if (!list) {
          out.error = list.error();
          return out;
        }
        out.ok = true;
        out.account = *account;
        out.maildrop = Maildrop(inbox->id, inbox->uidvalidity, *list);
        return out;
      },
      [address](Pop3Session& s, OpenedMaildrop opened) {
        if (!opened.ok) {
          core::log_error("pop3_maildrop")
              .kv("sid", s.sid_)
              .kv("user", address)
              .kv("ok", 0)
              .kv("error", store::store_error_name(opened.error));
          s.lock_.reset();
          // RFC 1939: a maildrop that cannot be opened leaves the session in
          // AUTHORIZATION.
          s.reply("-ERR [SYS/TEMP] Unable to open the maildrop; try again later");
          s.finish_command();
          return;
        }
        s.address_ = address;
        s.account_ = std::move(opened.account);
        s.maildrop_ = std::move(opened.maildrop);
        s.state_ = Pop3State::Transaction;
        s.reply(fmt::format("+OK Logged in; {} messages ({} octets).", s.maildrop_.live_count(),
                            s.maildrop_.live_octets()));
        s.finish_command();
      });
  if (!queued) {
    lock_.reset();
    reply("-ERR [SYS/TEMP] Server busy; try again later");
    finish_command();
  }
}

}  // namespace postern::node::pop3
