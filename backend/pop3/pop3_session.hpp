// One POP3 session on a node (RFC 1939, with CAPA, RESP-CODES, AUTH-RESP-CODE
// and PIPELINING from RFC 2449, STLS from RFC 2595, AUTH PLAIN from RFC 5034).
//
// States: AUTHORIZATION until a login opens the maildrop, then TRANSACTION;
// QUIT there is the UPDATE state (deletions and \Seen reach the store), and a
// session that ends any other way changes nothing.
//
// One command at a time: while a command waits for the directory, the worker
// pool or a slow reader of a RETR, the session reads no further command (the
// connection buffers at most its max_input, then stops reading).
//
// Ownership: the Pop3Service owns sessions through shared_ptr; work sent to the
// directory or the worker pool holds only a weak_ptr, so a completion that
// arrives after the session is gone does nothing. When the connection closes,
// the session calls `ended` once; the owner destroys it later, never inside
// that call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "backend/node/login_check.hpp"
#include "backend/pop3/dot_stuffer.hpp"
#include "backend/pop3/maildrop.hpp"
#include "backend/pop3/maildrop_locks.hpp"
#include "backend/pop3/pop3_commands.hpp"
#include "backend/pop3/pop3_context.hpp"
#include "backend/store/account_store.hpp"
#include "core/connection.hpp"
#include "core/event_loop.hpp"
#include "core/listener.hpp"
#include "core/pop3_codec.hpp"

namespace postern::node::pop3 {

class Pop3Session final : public core::Connection::Handler,
                          public std::enable_shared_from_this<Pop3Session> {
 public:
  using Ended = std::function<void(Pop3Session*)>;

  Pop3Session(Pop3Context& context, core::EventLoop& loop, core::Accepted accepted, Ended ended);
  Pop3Session(const Pop3Session&) = delete;
  Pop3Session& operator=(const Pop3Session&) = delete;
  ~Pop3Session() override;

  // Sends the greeting. Call once, after the shared_ptr exists.
  void start();
  // Ends the session after the current command, with -ERR [SYS/TEMP]. On its loop.
  void drain();
  // Closes the connection now (the node stops), without UPDATE. On its loop.
  void close(std::string_view reason);

  void on_input(core::Connection& c) noexcept override;
  void on_output_drained(core::Connection& c) noexcept override;
  void on_tls_ready(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

 private:
  // A RETR or TOP on its way out.
  struct Stream {
    std::shared_ptr<store::MessageFile> file;
    std::shared_ptr<DotStuffer> stuffer;  // touched by one chunk job at a time
    std::uint64_t offset = 0;
    bool reading = false;  // a chunk job is on the workers
  };

  // Input and replies (pop3_session.cpp).
  void process_input();
  void handle_command(const Pop3Command& command);
  void reply(std::string_view line);  // adds CRLF
  // Queues `bytes` for the client, or holds them while a batch of pipelined
  // commands runs (see process_input()).
  void out(std::string_view bytes);
  // Sends what is held and stops holding: before anything that waits for
  // the client's side (a close, a TLS handshake, a message stream).
  void release_output();
  void reply_and_close(std::string_view line);
  void bad_command(std::string_view text);
  void finish_command();  // not busy any more: go on with buffered input
  void say_goodbye_draining();
  void log_close(std::string_view reason);

  // AUTHORIZATION (pop3_session.cpp, pop3_login.cpp).
  void capa();
  void user(const CheckedCommand& c);
  void pass(const CheckedCommand& c);
  void auth(const CheckedCommand& c);
  void auth_response(const std::string& line);
  void plain_login(std::string_view response);
  void stls();
  void xclient(const CheckedCommand& c);
  bool trusted_proxy() const;  // the TCP peer may forward a client's address
  bool plaintext_refused();
  void begin_login(std::string user, core::Secret password);
  // A proxy's master login: `master` with its password, acting for `user`.
  void begin_master_login(std::string user, std::string master, core::Secret password);
  void on_login(LoginResult result);
  void login_failed(std::string_view reply_line, bool delay);
  void open_maildrop(const std::string& address);

  // TRANSACTION and UPDATE (pop3_transaction.cpp).
  void transaction(const CheckedCommand& c);
  void list(const CheckedCommand& c, bool uidl);
  void retrieve(const CheckedCommand& c);
  void pump_stream();
  void on_chunk(std::string bytes, std::uint64_t read, bool last, bool failed);
  void update();

  // Runs `job` on the worker pool, then `done(*this, result)` on the loop if
  // the session is still open. False when the pool is full. `job` must not
  // touch the session.
  template <class Job, class Done>
  bool run_blocking(Job job, Done done);

  Pop3Context& ctx_;
  core::EventLoop& loop_;
  const core::ListenerConfig& listener_;
  std::unique_ptr<core::FlowControl::Ticket> ticket_;
  Ended ended_;
  std::unique_ptr<core::Connection> conn_;
  std::string sid_;
  std::chrono::steady_clock::time_point started_;
  // The client for logs: the TCP peer, or the address a trusted proxy gave by
  // XCLIENT.
  core::PeerAddress client_;

  Pop3Codec codec_;
  Pop3State state_ = Pop3State::Authorization;
  bool busy_ = false;           // a command is in progress
  bool holding_ = false;        // out() holds replies in held_
  bool reading_input_ = false;  // process_input() is on the stack
  std::string held_;
  bool quitting_ = false;  // the last reply is on its way
  bool draining_ = false;
  bool closed_ = false;
  std::string close_reason_;  // for the log, when we end the session ourselves
  int bad_commands_ = 0;
  int failed_logins_ = 0;
  core::Timer delay_;  // failed-login delay
  std::string pending_reply_;

  std::string pending_user_;  // USER, waiting for PASS
  std::string login_user_;    // as the client gave it, for the log
  std::string login_master_;  // the master user of a master login, for the log
  std::string address_;       // canonical, after login
  std::shared_ptr<MaildropLocks::Lock> lock_;
  std::shared_ptr<store::AccountStore> account_;
  Maildrop maildrop_;
  std::unique_ptr<Stream> stream_;

  std::uint64_t retr_count_ = 0;
  std::uint64_t retr_bytes_ = 0;
  std::uint64_t top_count_ = 0;
  std::size_t deleted_at_quit_ = 0;
};

template <class Job, class Done>
bool Pop3Session::run_blocking(Job job, Done done) {
  std::weak_ptr<Pop3Session> weak = weak_from_this();
  return ctx_.node.workers.run(std::move(job), loop_,
                               [weak, done = std::move(done)](auto result) mutable {
                                 auto self = weak.lock();
                                 if (!self || self->closed_) return;
                                 done(*self, std::move(result));
                               });
}

}  // namespace postern::node::pop3
