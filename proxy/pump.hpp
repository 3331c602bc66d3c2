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
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/connection.hpp"
#include "proxy/splice_pump.hpp"

namespace postern::proxy {

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

  // Takes both connections and becomes their handler. Anything already in
  // either input buffer is forwarded at once. With `splice`, when neither
  // side uses TLS and the session has moved `splice_after` bytes (a bulk
  // transfer, not a login), both sides pause until nothing is buffered
  // either way and the sockets move to a SplicePump (the kernel moves the
  // bytes; we only watch).
  Pump(core::EventLoop& loop, std::unique_ptr<core::Connection> client,
       std::unique_ptr<core::Connection> node, std::size_t buffer, bool splice,
       std::chrono::milliseconds idle_timeout, std::function<void(const Result&)> done,
       std::uint64_t splice_after = 256 * 1024);
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;
  ~Pump() override;

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
  bool splice_ = false;
  std::uint64_t splice_after_;
  bool quiescing_ = false;  // reading paused on both sides until the buffers are empty
  std::chrono::milliseconds idle_;
  std::unique_ptr<SplicePump> spliced_;  // the fast path, once taken
};

}  // namespace postern::proxy
