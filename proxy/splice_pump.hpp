// The pump's fast path for plaintext on both sides: the kernel moves the
// bytes socket → pipe → socket with splice(2), so they are never copied
// through our memory (DESIGN.md section 3; issue 5's throughput target).
//
// Flow control is the pipe: a direction takes one from the loop's PipePool
// to read into and gives it back once the receiver has taken every byte
// (proxy/pipe_pool.hpp), so a direction holds at most one pipe's capacity;
// while the pipe is full the sending side is not read. A side that sends nothing for `idle_timeout`
// ends the session (as a bufferevent's read timeout does in the buffered pump).
//
// When either side closes, what its pipe still holds is written to the other
// side (bounded by the idle timeout), then both are closed and `done` runs
// once, from an event callback: the owner frees the SplicePump on a later
// turn of the loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "core/event_loop.hpp"
#include "core/handles.hpp"
#include "proxy/pipe_pool.hpp"

namespace postern::proxy {

// Where a pump's spliced phase gets its pipes; no pool = never splice.
struct SpliceOptions {
  PipePool* pipes = nullptr;  // the loop's
  std::size_t pipe_size = kDefaultPipeSize;
  static constexpr std::size_t kDefaultPipeSize = 1 << 20;
};

class SplicePump {
 public:
  struct Totals {
    std::uint64_t bytes_in = 0;   // client to node
    std::uint64_t bytes_out = 0;  // node to client
    std::string reason;           // "client_closed", "node_timeout", ...
  };

  // Takes ownership of both descriptors (non-blocking sockets).
  SplicePump(core::EventLoop& loop, int client_fd, int node_fd, PipePool& pipes,
             std::size_t pipe_size, std::chrono::milliseconds idle_timeout,
             std::function<void(const Totals&)> done);
  SplicePump(const SplicePump&) = delete;
  SplicePump& operator=(const SplicePump&) = delete;
  ~SplicePump();

  // Closes both sides now; `done` runs with reason "closed".
  void close();
  const Totals& totals() const { return totals_; }

 private:
  struct Direction {
    int from = -1;
    int to = -1;
    Pipe pipe;                // held while bytes are in it
    std::size_t in_pipe = 0;  // bytes read, not yet written
    bool eof = false;         // `from` closed: flush the pipe, then end
    std::uint64_t* total = nullptr;
    const char* name = "";    // "client" / "node": whose reads these are
    core::EventPtr read_ev;   // `from` readable
    core::EventPtr write_ev;  // `to` writable (armed while the pipe holds bytes)
  };
  static void on_readable(int fd, short what, void* self) noexcept;
  static void on_writable(int fd, short what, void* self) noexcept;
  void pull(Direction& d);
  bool push(Direction& d);  // false: the session ended
  void arm_read(Direction& d);
  void release_pipe(Direction& d);
  void end(std::string reason);

  core::EventLoop& loop_;
  PipePool& pipes_;
  std::size_t pipe_size_;
  std::chrono::milliseconds idle_;
  std::function<void(const Totals&)> done_;
  Direction up_;    // client → node
  Direction down_;  // node → client
  Totals totals_;
  bool ended_ = false;
};

}  // namespace postern::proxy
