// The pipes of spliced sessions (proxy/splice_pump), one pool per event loop.
//
// A direction of a spliced session holds a pipe only while bytes are in it:
// it takes one to read into and gives it back as soon as the receiver has
// taken every byte. A loop then needs as many pipes as directions waiting on
// a slow receiver, plus a few idle ones, instead of two per spliced session
// for the session's life. Beyond the descriptors this matters because the
// kernel counts every pipe's capacity against its user
// (fs.pipe-user-pages-soft, 64 MiB by default): past it, new pipes get two
// pages and F_SETPIPE_SZ is refused.
//
// Pipes are made `size` bytes (F_SETPIPE_SZ; the kernel rounds up to a power
// of two pages). A larger pipe moves more per splice(2), so fewer system
// calls and acknowledgements per byte. One the kernel will not grow (above
// fs.pipe-max-size, or past the user's soft limit) keeps the capacity it
// has; `capacity` says what it holds.
//
// A pool belongs to one loop's thread; PipePools finds a loop's own.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/event_loop.hpp"

namespace postern::proxy {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  std::size_t capacity = 0;  // bytes it holds at most (F_GETPIPE_SZ)
  std::size_t asked = 0;     // the size it was made for
  explicit operator bool() const { return read_fd >= 0; }
};

class PipePool {
 public:
  explicit PipePool(std::size_t max_idle = kMaxIdle) : max_idle_(max_idle) {}
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  ~PipePool();

  // An empty pipe made for `size` bytes: an idle one, or a new one. A false
  // Pipe (errno set) when none can be made (out of descriptors).
  Pipe take(std::size_t size);
  // Takes back an empty pipe (close() one that still holds bytes: the next
  // taker would send them), closing it if max_idle are idle already or if it
  // is smaller than another pipe made for its size. Leaves `p` false.
  void give(Pipe& p);
  std::size_t idle() const { return idle_.size(); }

  static void close(Pipe& p);
  static constexpr std::size_t kMaxIdle = 4;

 private:
  std::size_t max_idle_;
  std::vector<Pipe> idle_;
  std::size_t made_for_ = 0;  // the size the last new pipe was asked for
  std::size_t largest_ = 0;   // the largest capacity a pipe of that size got
};

class PipePools {
 public:
  PipePool& of(core::EventLoop& loop);

 private:
  std::mutex mutex_;
  std::map<core::EventLoop*, std::unique_ptr<PipePool>> by_loop_;
};

}  // namespace postern::proxy
