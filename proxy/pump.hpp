// Phase 2 of a proxy session (STYLE.md rule 3): bytes both ways between the
// client and the node, protocol-agnostic.
//
// Flow control (DESIGN.md section 3): when one side's output holds `buffer`
// bytes or more, the other side is no longer read; it is read again when
// that output has drained below its low-water mark (the connections are
// created with output_low_water = buffer / 2). So a pumped session holds at
// most about `buffer` bytes per direction, whatever the peers send.
//
// When either side closes, what the other still has to send is flushed and
// then it is closed too; `done` runs once, after both are closed, from a
// callback of the pump's loop: the owner may destroy the Pump only on a later
// turn of the loop (EventLoop::post), never inside `done`.
//
// A Handback (optional) lets a protocol end a session without closing the
// node connection: it watches the client's bytes for the command that ends
// the session (IMAP: LOGOUT), and the node's for what the node still owes
// the client. When the node owes nothing, the pump answers the client
// itself and hands the node connection back with the release command
// (UNAUTHENTICATE) pending: the next session sends it ahead of its own
// login, in the same write. Otherwise the pump sends the node the release
// command now, passes on whatever the node still had to say, answers the
// client, and hands the clean node connection back
// (proxy/imap_handback.hpp). A session that moves to splice gives it up.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/connection.hpp"
#include "proxy/splice_pump.hpp"

namespace postern::proxy {

class Handback {
 public:
  virtual ~Handback() = default;

  struct ClientScan {
    std::size_t pass = 0;     // bytes of the client's input that may go to the node now
    bool end = false;         // the session's end command follows them...
    std::size_t end_len = 0;  // ...this long: it is not passed on
    // ...and the node has answered everything before it, so the release
    // command may wait for the connection's next user.
    bool settled = false;
  };
  // `data`: the client's input not passed on yet, from its first byte.
  virtual ClientScan scan_client(std::string_view data) = 0;
  // Every byte the node sends the client before the end command, in order.
  virtual void watch_node(std::string_view data) = 0;
  // Sent to the node instead of the end command (once), now or by the
  // connection's next user.
  virtual std::string release_command() = 0;

  struct NodeScan {
    std::size_t pass = 0;        // bytes of the node's input that go to the client
    bool done = false;           // the node answered the release command...
    std::size_t answer_len = 0;  // ...in this many bytes after `pass`...
    bool clean = false;          // ...and the connection may be reused
  };
  // `data`: the node's input not passed on yet, after release_command().
  virtual NodeScan scan_node(std::string_view data) = 0;
  // What the client hears last (before its connection closes).
  virtual std::string farewell() = 0;
  // The node connection, idle; no handler set. Clean when `pending` is
  // empty, else the next user must send `pending` first and see it succeed.
  virtual void released(std::unique_ptr<core::Connection> node, std::string pending) = 0;
};

class Pump final : public core::Connection::Handler {
 public:
  struct Result {
    std::uint64_t bytes_in = 0;   // client to node
    std::uint64_t bytes_out = 0;  // node to client
    // Who ended it: "client_closed", "node_closed", "client_timeout",
    // "node_timeout", "client_error", "node_error", "closed" (close()).
    std::string reason;
    bool spliced = false;  // the kernel moved the bytes (SplicePump) from some point on
  };

  // Takes both connections and becomes their handler; start() forwards
  // what either input buffer already holds. With `splice.pipes`, when neither
  // side uses TLS and the session has moved `splice_after` bytes (a bulk
  // transfer, not a login), both sides pause until nothing is buffered
  // either way and the sockets move to a SplicePump (the kernel moves the
  // bytes; we only watch). With `handback`, the client's bytes (from the
  // first one in its input, a command boundary) are watched for the end of
  // the session until a splice.
  Pump(core::EventLoop& loop, std::unique_ptr<core::Connection> client,
       std::unique_ptr<core::Connection> node, std::size_t buffer, SpliceOptions splice,
       std::chrono::milliseconds idle_timeout, std::function<void(const Result&)> done,
       std::uint64_t splice_after = kSpliceAfter, std::unique_ptr<Handback> handback = nullptr);
  static constexpr std::uint64_t kSpliceAfter = 256 * 1024;
  // How long the node may take to answer a handback's release command.
  static constexpr std::chrono::milliseconds kReleaseTimeout{10'000};
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;
  ~Pump() override;

  // Forwards what either input already holds (the client's pipelined
  // commands). Call once, after storing the Pump: `done` may run within it
  // (a pipelined LOGOUT), which must find the Pump where close() and
  // progress() reach it.
  void start();
  // Closes both sides now (shutdown); `done` runs with reason "closed".
  void close();
  // Bytes so far (for the session's metrics while it runs).
  Result progress() const;
  core::Connection& client() { return *client_; }

  void on_input(core::Connection& c) noexcept override;
  void on_output_drained(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

 private:
  void forward(core::Connection& from, core::Connection& to);
  void maybe_quiesce();
  void try_splice();
  void spliced_done(const SplicePump::Totals& t);
  core::Connection& other(core::Connection& c) { return &c == client_.get() ? *node_ : *client_; }
  void forward_client_watched();
  void forward_node_releasing();
  void release_node(bool clean, std::string pending = {});

  core::EventLoop& loop_;
  std::unique_ptr<core::Connection> client_;
  std::unique_ptr<core::Connection> node_;
  std::size_t buffer_;
  std::function<void(const Result&)> done_;
  Result result_;
  bool client_paused_ = false;  // not reading the client: the node's output is full
  bool node_paused_ = false;
  int closed_ = 0;
  bool finished_ = false;
  SpliceOptions splice_;  // no pool: never splice
  std::uint64_t splice_after_;
  bool quiescing_ = false;  // reading paused on both sides until the buffers are empty
  std::chrono::milliseconds idle_;
  std::unique_ptr<SplicePump> spliced_;  // the fast path, once taken
  std::unique_ptr<Handback> handback_;
  bool releasing_ = false;  // the node was sent the release command
  bool released_ = false;   // node_ was handed back (or closed at the end of a release)
};

}  // namespace postern::proxy
