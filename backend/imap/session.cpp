// The session engine: input, dispatch, completion, untagged updates.
#include "backend/imap/session.hpp"

#include <event2/buffer.h>
#include <fmt/format.h>

#include "backend/imap/imap_service.hpp"
#include "core/log.hpp"

namespace postern::node::imap {

namespace {

// Reading stops while this much output waits for a slow client.
constexpr std::size_t kMaxPendingOutput = 4 * 1024 * 1024;
// What held_ keeps of its buffer between batches (an idle session keeps it):
// a login's answers fit.
constexpr std::size_t kHeldCapacityKept = 2 * 1024;
// How often IDLE looks for changes made by other processes.
constexpr std::chrono::milliseconds kIdlePoll{2000};

core::imap::Limits parser_limits() {
  core::imap::Limits limits;
  limits.max_line = 64 * 1024;
  limits.max_literal = 64ull * 1024 * 1024;  // the largest APPEND we take
  return limits;
}

}  // namespace

Session::Session(ImapService& service, core::EventLoop& loop, core::Accepted accepted)
    : service_(service),
      node_(service.node()),
      loop_(loop),
      listener_(*accepted.listener),
      ticket_(std::move(accepted.ticket)),
      peer_(accepted.peer),
      parser_(parser_limits()),
      started_(std::chrono::steady_clock::now()) {
  core::Connection::Options options;
  options.idle_timeout = listener_.idle_timeout;
  conn_ = std::make_unique<core::Connection>(loop_, accepted.fd, peer_, options, this,
                                             listener_.implicit_tls ? listener_.tls : nullptr);
}

Session::~Session() = default;

void Session::start() {
  core::log_info("imap_connect")
      .kv("listener", listener_.name)
      .kv("client", client_address())
      .kv("tls", listener_.implicit_tls ? "implicit" : "none");
  if (!listener_.implicit_tls) {
    send(fmt::format("* OK [CAPABILITY {}] Postern ready.\r\n", capabilities()));
  }
}

void Session::on_tls_ready(core::Connection&) noexcept {
  if (starttls_pending_) {
    starttls_pending_ = false;
    busy_ = false;
    pump();
    return;
  }
  if (listener_.implicit_tls && state_ == State::NotAuthenticated && commands_ == 0) {
    send(fmt::format("* OK [CAPABILITY {}] Postern ready.\r\n", capabilities()));
  }
}

std::string Session::client_address() const {
  if (forwarded_ip_) {
    return forwarded_port_.empty() ? *forwarded_ip_ : *forwarded_ip_ + ":" + forwarded_port_;
  }
  return peer_.ip.to_string() + ":" + std::to_string(peer_.port);
}

void Session::send(std::string_view bytes) {
  if (closed_ || bytes.empty()) return;
  if (!holding_) {
    conn_->write(bytes);
    return;
  }
  held_.append(bytes);
  // Holding saves writes, never memory: held bytes count against the limit.
  if (output_pending() > kMaxPendingOutput) release_output();
}

void Session::release_output() {
  holding_ = false;
  if (held_.empty()) return;
  if (!closed_) conn_->write(held_);
  if (held_.capacity() > kHeldCapacityKept) {
    held_ = std::string();
  } else {
    held_.clear();
  }
}

std::size_t Session::output_pending() const {
  return conn_->output_pending() + held_.size();
}

void Session::on_input(core::Connection&) noexcept {
  pump();
}

void Session::on_output_drained(core::Connection&) noexcept {
  if (on_drained_) {
    auto next = std::move(on_drained_);
    on_drained_ = nullptr;
    next();
    return;
  }
  pump();
}

void Session::pump() {
  static thread_local int depth = 0;
  if (depth > 0) return;  // the outer pump() goes on
  ++depth;
  holding_ = true;
  while (!busy_ && !closed_ && state_ != State::Logout && !on_drained_) {
    if (output_pending() > kMaxPendingOutput) break;  // wait for on_output_drained
    evbuffer* in = conn_->input();
    if (evbuffer_get_length(in) == 0) break;
    evbuffer_iovec v;
    if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1) break;
    auto r = parser_.feed(std::string_view(static_cast<const char*>(v.iov_base), v.iov_len));
    evbuffer_drain(in, r.consumed);
    switch (r.status) {
      case core::imap::Status::NeedMore:
        break;
      case core::imap::Status::Command:
        dispatch(std::move(r.command));
        break;
      case core::imap::Status::Continuation:
        send("+ Ready for literal data\r\n");
        break;
      case core::imap::Status::Line:
        on_raw_line(std::move(r.line));
        break;
      case core::imap::Status::Error:
        on_parse_error(r.error);
        break;
    }
  }
  --depth;
  // Output stays held only while a command runs asynchronously after others
  // of this input answered: its completion comes back here and sends all in
  // one write. When the session waits for the client (input used up, a
  // continuation request, IDLE's) or for the output to drain, nothing may
  // stay held.
  if (!busy_ || held_.empty() || closed_ || state_ == State::Logout || on_drained_) {
    release_output();
  }
}

void Session::count_bad_command() {
  if (++bad_commands_ >= listener_.errors.max_bad_commands) {
    core::log_info("imap_error_limit").kv("client", client_address()).kv("bad", bad_commands_);
    bye("Too many invalid commands.");
  }
}

void Session::reject(const std::string& tag, std::string_view text) {
  if (++bad_commands_ >= listener_.errors.max_bad_commands) {
    send(fmt::format("{} BAD {}\r\n", tag, text));
    busy_ = false;
    core::log_info("imap_error_limit").kv("client", client_address()).kv("bad", bad_commands_);
    bye("Too many invalid commands.");
    return;
  }
  complete(tag, "BAD", text);
}

void Session::on_parse_error(const core::imap::Error& error) {
  using Kind = core::imap::Error::Kind;
  std::string tag = error.tag.empty() ? "*" : error.tag;
  switch (error.kind) {
    case Kind::LineTooLong:
      send(fmt::format("{} BAD [TOOBIG] Command line too long.\r\n", tag));
      break;
    case Kind::LiteralTooLarge:
      send(fmt::format("{} NO [TOOBIG] Literal too large.\r\n", tag));
      return;  // not the client's syntax error
    default:
      send(fmt::format("{} BAD {}\r\n", tag, error.message));
      break;
  }
  count_bad_command();
}

void Session::bye(std::string_view text) {
  if (closed_ || state_ == State::Logout) return;
  send(fmt::format("* BYE {}\r\n", text));
  state_ = State::Logout;
  idling_ = false;
  log_logout(text);
  release_output();
  conn_->close_after_flush();
}

void Session::drain() {
  if (closed_) return;
  draining_ = true;
  if (!busy_ || idling_) bye("Server shutting down.");
}

void Session::close_now() {
  if (!closed_) conn_->close();
}

void Session::log_logout(std::string_view why) {
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  core::log_info("imap_logout")
      .kv("user", user_)
      .kv("client", client_address())
      .kv("reason", why)
      .kv("commands", commands_)
      .kv("fetched_bytes", fetched_bytes_)
      .kv("appended", appended_)
      .kv("expunged", expunged_)
      .kv("seconds", fmt::format("{:.3f}", secs));
}

void Session::on_closed(core::Connection&, core::CloseReason reason) noexcept {
  if (closed_) return;
  closed_ = true;
  holding_ = false;
  held_ = std::string();
  if (state_ != State::Logout) log_logout(core::close_reason_name(reason));
  state_ = State::Logout;
  idle_poll_.reset();
  watch_.reset();
  // Not from inside the connection's callback: the session owns it.
  std::weak_ptr<Session> weak = weak_from_this();
  ImapService* service = &service_;
  core::EventLoop* loop = &loop_;
  loop_.post([weak, service, loop] {
    if (auto self = weak.lock()) service->forget(*loop, self.get());
  });
}

namespace {

// Posts the hub's poke to the session's loop; holds the session weakly.
class LoopWatcher final : public MailboxWatcher {
 public:
  LoopWatcher(core::EventLoop& loop, std::weak_ptr<Session> session)
      : loop_(loop), session_(std::move(session)) {}
  void mailbox_changed() override {
    loop_.post([weak = session_] {
      if (auto self = weak.lock()) self->mailbox_changed();
    });
  }

 private:
  core::EventLoop& loop_;
  std::weak_ptr<Session> session_;
};

}  // namespace

std::weak_ptr<MailboxWatcher> Session::watcher() {
  if (!watcher_) watcher_ = std::make_shared<LoopWatcher>(loop_, weak_from_this());
  return watcher_;
}

void Session::mailbox_changed() {
  // A poke for a mailbox closed since (UNSELECT, UNAUTHENTICATE) is stale.
  if (closed_ || !selected_) return;
  changes_pending_ = true;
  if (idling_ && !sync_running_) sync([] {});
}

void Session::complete(const std::string& tag, std::string_view status, std::string_view text) {
  // While an IDLE's sync still runs, sync() would call us straight back
  // (endlessly): that sync reports the changes, after our tagged line.
  if (selected_ && changes_pending_ && !sync_running_ && !closed_) {
    sync([this, tag, s = std::string(status), t = std::string(text)] { complete(tag, s, t); });
    return;
  }
  send(fmt::format("{} {} {}\r\n", tag, status, text));
  busy_ = false;
  expunge_ok_ = true;
  if (draining_) {
    bye("Server shutting down.");
    return;
  }
  pump();
}

void Session::sync(std::function<void()> then) {
  if (!selected_ || !account_ || closed_) {
    then();
    return;
  }
  if (sync_running_) {  // one at a time; the running one will see our change too
    changes_pending_ = true;
    then();
    return;
  }
  changes_pending_ = false;
  sync_running_ = true;
  struct Result {
    store::StoreResult<store::Changes> changes;
    store::RecentRange recent;
  };
  auto account = account_;
  store::MailboxId id = selected_->id();
  store::ModSeq since = selected_->highest_modseq();
  store::Uid uidnext = selected_->uidnext();
  bool claim = !selected_->read_only();
  std::uint64_t epoch = epoch_;
  std::weak_ptr<Session> weak = weak_from_this();
  bool queued = node_.workers.run(
      [account, id, since, uidnext, claim] {
        Result r{account->changes_since(id, since), {}};
        if (claim && r.changes && r.changes->uidnext > uidnext) {
          if (auto rr = account->claim_recent(id)) r.recent = *rr;
        }
        return r;
      },
      loop_,
      [weak, id, epoch, then](Result r) mutable {
        auto self = weak.lock();
        // After UNAUTHENTICATE: the previous user's news; no command waits.
        if (!self || self->closed_ || self->epoch_ != epoch) return;
        self->sync_running_ = false;
        if (self->selected_ && self->selected_->id() == id && r.changes) {
          std::string out;
          std::uint32_t before = self->selected_->exists();
          self->selected_->add_recent(r.recent);
          self->selected_->apply(*r.changes, self->expunge_ok_ || self->idling_, self->condstore_,
                                 out);
          if (self->selected_->exists() > before) {
            out += fmt::format("* {} RECENT\r\n", self->selected_->recent_count());
          }
          self->send(out);
        } else if (!r.changes) {
          core::log_warn("imap_sync_failed")
              .kv("user", self->user_)
              .kv("error", store::store_error_name(r.changes.error()));
        }
        then();
      });
  if (!queued) {
    // No worker to spare: answer without the news and look again at the
    // next command. `then` was copied, not moved, into the refused job (it
    // is called here). Marked after then(): before, complete() would come
    // straight back here, without end while the queue stays full.
    sync_running_ = false;
    then();
    changes_pending_ = true;
  }
}

void Session::schedule_idle_poll() {
  if (!idle_poll_) {
    std::weak_ptr<Session> weak = weak_from_this();
    idle_poll_ = std::make_unique<core::Timer>(loop_, [weak] {
      auto self = weak.lock();
      if (!self || self->closed_ || !self->idling_) return;
      if (!self->sync_running_) {
        self->changes_pending_ = true;
        self->sync([] {});
      }
      self->schedule_idle_poll();
    });
  }
  idle_poll_->arm(kIdlePoll);
}

void Session::on_raw_line(std::string line) {
  if (idling_) {
    idling_ = false;
    if (idle_poll_) idle_poll_->cancel();
    std::string tag = std::move(idle_tag_);
    busy_ = true;
    if (strcasecmp(line.c_str(), "DONE") == 0) {
      complete(tag, "OK", "Idle completed.");
    } else {
      reject(tag, "Expected DONE to end IDLE.");
    }
    return;
  }
  if (auth_pending_) {
    auth_pending_ = false;
    std::string tag = std::move(auth_tag_);
    busy_ = true;
    if (line == "*") {
      send(fmt::format("{} BAD Authentication cancelled.\r\n", tag));
      busy_ = false;
      pump();
      return;
    }
    authenticate_plain(tag, line);
  }
}

void Session::store_failed(const std::string& tag, store::StoreError e, std::string_view what) {
  using E = store::StoreError;
  switch (e) {
    case E::NoSuchMailbox:
      return complete(tag, "NO", "[NONEXISTENT] Mailbox does not exist.");
    case E::NoSuchMessage:
      return complete(tag, "NO", "[EXPUNGEISSUED] Some messages were expunged meanwhile.");
    case E::AlreadyExists:
      return complete(tag, "NO", "[ALREADYEXISTS] Mailbox already exists.");
    case E::NotAllowed:
      return complete(tag, "NO", "[CANNOT] Operation not allowed on this mailbox.");
    case E::BadArgument:
      return complete(tag, "NO", "[CANNOT] Invalid name or argument.");
    case E::Limit:
      return complete(tag, "NO", "[LIMIT] Limit reached.");
    case E::QuotaExceeded:
      return complete(tag, "NO", "[OVERQUOTA] Quota exceeded.");
    case E::NoSpace:
    case E::Busy:
    case E::Io:
    case E::Corrupt:
      core::log_warn("imap_store_error")
          .kv("user", user_)
          .kv("op", what)
          .kv("error", store::store_error_name(e));
      return complete(tag, "NO", "[UNAVAILABLE] Temporary server failure, try again later.");
  }
}

std::optional<std::string> Session::mailbox_arg(const std::string& tag, const Token& t) {
  if (t.kind == Token::Kind::List) {
    reject(tag, "Expected a mailbox name.");
    return std::nullopt;
  }
  auto name = core::imap::mutf7_to_utf8(t.text);
  if (!name) {
    // RFC 3501 5.1.3: a name that is not valid modified UTF-7 may still be a
    // plain 8-bit name; we refuse it rather than guess.
    reject(tag, "Mailbox name is not valid modified UTF-7.");
    return std::nullopt;
  }
  if (strcasecmp(name->c_str(), "INBOX") == 0) return std::string("INBOX");
  if (name->size() > 6 && strncasecmp(name->c_str(), "INBOX/", 6) == 0) {
    return "INBOX" + name->substr(5);
  }
  return name;
}

void Session::dispatch(Command c) {
  ++commands_;
  service_.metrics().command(c.name).inc();
  busy_ = true;
  expunge_ok_ = true;
  const std::string& n = c.name;
  auto in_state = [&](bool ok, std::string_view need) {
    if (ok) return true;
    reject(c.tag, fmt::format("{} is only valid {}.", n, need));
    return false;
  };
  const bool authed = state_ == State::Authenticated || state_ == State::Selected;
  const bool selected = state_ == State::Selected;
  if (n == "CAPABILITY") return cmd_capability(c);
  if (n == "NOOP") return cmd_noop(c);
  if (n == "LOGOUT") return cmd_logout(c);
  if (n == "ID") return cmd_id(c);
  if (n == "UNAUTHENTICATE") {
    if (in_state(authed, "after login")) cmd_unauthenticate(c);
    return;
  }
  if (n == "STARTTLS") {
    if (in_state(state_ == State::NotAuthenticated, "before login")) cmd_starttls(c);
    return;
  }
  if (n == "LOGIN") {
    if (in_state(state_ == State::NotAuthenticated, "before login")) cmd_login(c);
    return;
  }
  if (n == "AUTHENTICATE") {
    if (in_state(state_ == State::NotAuthenticated, "before login")) cmd_authenticate(c);
    return;
  }
  using CommandFn = void (Session::*)(Command&);
  static const std::map<std::string, CommandFn, std::less<>> auth_commands = {
      {"ENABLE", &Session::cmd_enable},       {"CREATE", &Session::cmd_create},
      {"DELETE", &Session::cmd_delete},       {"RENAME", &Session::cmd_rename},
      {"STATUS", &Session::cmd_status},       {"APPEND", &Session::cmd_append},
      {"NAMESPACE", &Session::cmd_namespace}, {"IDLE", &Session::cmd_idle},
  };
  if (auto it = auth_commands.find(n); it != auth_commands.end()) {
    if (in_state(authed, "after login")) (this->*(it->second))(c);
    return;
  }
  if (n == "SELECT" || n == "EXAMINE") {
    if (in_state(authed, "after login")) cmd_select(c, n == "EXAMINE");
    return;
  }
  if (n == "SUBSCRIBE" || n == "UNSUBSCRIBE") {
    if (in_state(authed, "after login")) cmd_subscribe(c, n == "SUBSCRIBE");
    return;
  }
  if (n == "LIST" || n == "LSUB") {
    if (in_state(authed, "after login")) cmd_list(c, n == "LSUB");
    return;
  }
  if (n == "CHECK" || n == "CLOSE" || n == "UNSELECT" || n == "EXPUNGE" || n == "SEARCH" ||
      n == "FETCH" || n == "STORE" || n == "COPY" || n == "MOVE" || n == "UID") {
    if (!in_state(selected, "in the selected state")) return;
    if (n == "CHECK") return cmd_check(c);
    if (n == "CLOSE") return cmd_close(c, true);
    if (n == "UNSELECT") return cmd_close(c, false);
    if (n == "EXPUNGE") return cmd_expunge(c, false);
    if (n == "SEARCH") return cmd_search(c, false);
    if (n == "FETCH") return cmd_fetch(c, false);
    if (n == "STORE") return cmd_store(c, false);
    if (n == "COPY") return cmd_copy(c, false, false);
    if (n == "MOVE") return cmd_copy(c, false, true);
    return cmd_uid(c);
  }
  reject(c.tag, "Unknown command.");
}

}  // namespace postern::node::imap
