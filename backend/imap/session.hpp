// One IMAP client connection on a node (RFC 3501 and the extensions listed in
// capabilities()). A state machine owned by its loop: bytes go through the
// command codec (core/imap_parser.hpp); one command runs at a time, the
// pipelined ones wait in the parser's input; anything touching the store runs
// on the node's worker pool and comes back through post() to a weak handle,
// so a completion after the client left is dropped.
//
// UNAUTHENTICATE (RFC 8437) returns the session to the not-authenticated
// state for the next user of the connection (the proxy's pool). Only work
// that no command waits for can outlive the command that ends a user's
// session: a sync() started by IDLE, the hub's pokes, the IDLE poll timer.
// Those carry epoch_ or check selected_, so nothing about the previous user
// is written after the tagged OK.
//
// Output is held (corked) only while a command runs asynchronously after
// other commands of the same batch of input have answered: the answers then
// leave in one write when the session next waits for input (the proxy sends
// ID and LOGIN together and wakes up once). Everything that waits for the
// client, and everything written to the connection other than by send(),
// releases what is held first; see pump().
//
// The commands live in three files by state: session_any.cpp (any state and
// not authenticated), session_auth.cpp (authenticated) and
// session_selected.cpp (selected).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/imap/mailbox_hub.hpp"
#include "backend/imap/selected_mailbox.hpp"
#include "backend/node/login_check.hpp"
#include "backend/node/node_service.hpp"
#include "core/connection.hpp"
#include "core/event_loop.hpp"
#include "core/imap_parser.hpp"
#include "core/listener.hpp"

namespace postern::node::imap {

class ImapService;
struct FetchRequest;
struct Chunk;

class Session final : public core::Connection::Handler,
                      public std::enable_shared_from_this<Session> {
 public:
  Session(ImapService& service, core::EventLoop& loop, core::Accepted accepted);
  ~Session() override;

  void start();
  // Ends the session after the current command (node shutting down).
  void drain();
  // Closes the connection now (the node is stopping).
  void close_now();

  // Another session changed our selected mailbox (runs on our loop).
  void mailbox_changed();
  // The handle the mailbox hub holds for this session.
  std::weak_ptr<MailboxWatcher> watcher();

 private:
  enum class State { NotAuthenticated, Authenticated, Selected, Logout };
  using Command = core::imap::Command;
  using Token = core::imap::Token;

  // core::Connection::Handler
  void on_input(core::Connection& c) noexcept override;
  void on_output_drained(core::Connection& c) noexcept override;
  void on_tls_ready(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

  // ---- engine (session.cpp) ----
  void pump();
  void dispatch(Command cmd);
  void on_parse_error(const core::imap::Error& error);
  void on_raw_line(std::string line);
  // Ends the running command: untagged updates (if allowed), then the tagged
  // line, then the next pipelined command.
  void complete(const std::string& tag, std::string_view status, std::string_view text);
  void complete_after_sync(std::string tag, std::string status, std::string text);
  // Queues `bytes` on the connection, or holds them while output is corked.
  void send(std::string_view bytes);
  // Sends what is held and stops holding. Before the session waits for the
  // client, and before anything reaches the connection without send().
  void release_output();
  // Bytes waiting for the client: queued on the connection and held.
  std::size_t output_pending() const;
  // Ends the running command with a tagged BAD, counted against the error limit.
  void reject(const std::string& tag, std::string_view text);
  void count_bad_command();
  void bye(std::string_view text);

  // Runs `job` (returning R) on the worker pool; `done(R)` runs back on the
  // loop if the session still exists. Answers NO [UNAVAILABLE] for `tag` if
  // the pool is full.
  template <class Job, class Done>
  void on_worker(const std::string& tag, Job job, Done done);

  // Brings the selected mailbox up to date (changes_since), then calls `then`.
  void sync(std::function<void()> then);
  void schedule_idle_poll();

  // ---- any state / not authenticated (session_any.cpp) ----
  std::string capabilities() const;
  void cmd_capability(Command& c);
  void cmd_noop(Command& c);
  void cmd_logout(Command& c);
  void cmd_starttls(Command& c);
  void cmd_login(Command& c);
  void cmd_authenticate(Command& c);
  void cmd_id(Command& c);
  void cmd_enable(Command& c);
  // UNAUTHENTICATE, or UNAUTHENTICATE <token> on a session with a reuse token.
  void cmd_unauthenticate(Command& c);
  // Forgets the logged-in user and everything the session learnt since it
  // started (not the error counts): back to the not-authenticated state.
  void forget_user();
  void authenticate_plain(const std::string& tag, std::string_view base64);
  void login(const std::string& tag, std::string user, core::Secret password);
  // A proxy's master login: `master` with its password, acting for `user`.
  void master_login(const std::string& tag, std::string user, std::string master,
                    core::Secret password);
  // What check_login / check_master_login answer goes to (opens the store).
  std::function<void(LoginResult)> on_login_checked(const std::string& tag);
  void login_done(const std::string& tag, LoginResult result);
  void fail_login(const std::string& tag, std::string_view code_and_text, std::string_view reason,
                  const std::string& user);

  // ---- authenticated (session_auth.cpp) ----
  void cmd_select(Command& c, bool read_only);
  void cmd_create(Command& c);
  void cmd_delete(Command& c);
  void cmd_rename(Command& c);
  void cmd_subscribe(Command& c, bool subscribe);
  void cmd_list(Command& c, bool lsub);
  void cmd_status(Command& c);
  void cmd_append(Command& c);
  void cmd_namespace(Command& c);
  void cmd_idle(Command& c);
  void close_mailbox();

  // ---- selected (session_selected.cpp) ----
  void cmd_check(Command& c);
  void cmd_close(Command& c, bool expunge);
  void cmd_expunge(Command& c, bool uid);
  void cmd_search(Command& c, bool uid);
  void cmd_fetch(Command& c, bool uid);
  void cmd_store(Command& c, bool uid);
  void cmd_copy(Command& c, bool uid, bool move);
  void cmd_uid(Command& c);
  void fetch_messages(std::string tag, bool uid, std::shared_ptr<FetchRequest> request,
                      std::vector<std::uint32_t> indexes, std::vector<store::Uid> seen_set);
  void fetch_batch(std::shared_ptr<struct FetchJob> job);
  void write_chunks(std::vector<Chunk>& chunks);

  // ---- helpers ----
  // The store name of a client's mailbox argument (modified UTF-7 decoded,
  // INBOX canonical); nullopt after answering BAD.
  std::optional<std::string> mailbox_arg(const std::string& tag, const Token& t);
  void store_failed(const std::string& tag, store::StoreError e, std::string_view what);
  std::string client_address() const;
  void log_logout(std::string_view why);

  ImapService& service_;
  NodeContext& node_;
  core::EventLoop& loop_;
  const core::ListenerConfig& listener_;
  std::unique_ptr<core::FlowControl::Ticket> ticket_;
  std::unique_ptr<core::Connection> conn_;
  core::PeerAddress peer_;
  std::optional<std::string> forwarded_ip_;  // ID x-originating-ip from a trusted proxy
  std::string forwarded_port_;
  // ID x-postern-reuse from a trusted proxy: only UNAUTHENTICATE <token> may
  // end the user's session then, not a client whose bytes the proxy relays.
  std::string reuse_token_;
  // Bumped by UNAUTHENTICATE: a sync() started before it is dropped.
  std::uint64_t epoch_ = 0;
  core::imap::ImapParser parser_;

  State state_ = State::NotAuthenticated;
  bool busy_ = false;      // a command is running
  bool closed_ = false;    // on_closed() came
  bool draining_ = false;  // finish after the running command
  bool idling_ = false;    // IDLE in progress
  bool holding_ = false;   // send() holds output in held_ (see pump())
  std::string held_;
  std::string idle_tag_;
  bool auth_pending_ = false;  // AUTHENTICATE waits for the client's response line
  std::string auth_tag_;
  bool condstore_ = false;  // enabled (ENABLE CONDSTORE, or a CONDSTORE-using command)
  bool changes_pending_ = false;
  bool expunge_ok_ = true;  // the running command may report EXPUNGEs (not FETCH, STORE, SEARCH)
  bool sync_running_ = false;
  int bad_commands_ = 0;
  int failed_logins_ = 0;
  bool starttls_pending_ = false;
  std::string login_user_;    // as the client typed it, for logs
  std::string login_master_;  // the master user of a master login, for logs

  std::string user_;  // canonical address once logged in
  std::shared_ptr<store::AccountStore> account_;
  std::optional<SelectedMailbox> selected_;
  // What the hub pokes: a small object of our own, so that another thread
  // holding it for a moment never holds the session itself.
  std::shared_ptr<MailboxWatcher> watcher_;
  std::shared_ptr<void> watch_;               // MailboxHub registration of the selected mailbox
  std::unique_ptr<core::Timer> login_delay_;  // failed-login pause
  std::string delayed_tag_, delayed_text_;
  std::unique_ptr<core::Timer> idle_poll_;
  std::function<void()> on_drained_;  // a stream waits for the output to drain

  // Counters for the logout line.
  std::chrono::steady_clock::time_point started_;
  std::uint64_t commands_ = 0;
  std::uint64_t fetched_bytes_ = 0;
  std::uint64_t appended_ = 0;
  std::uint64_t expunged_ = 0;

  friend class ImapService;
};

}  // namespace postern::node::imap
