#include "proxy/pipe_pool.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <utility>

namespace postern::proxy {

PipePool::~PipePool() {
  for (Pipe& p : idle_) close(p);
}

Pipe PipePool::take(std::size_t size) {
  // Pipes made for another size (before a reload) go.
  while (!idle_.empty() && idle_.back().asked != size) {
    close(idle_.back());
    idle_.pop_back();
  }
  if (!idle_.empty()) {
    Pipe p = idle_.back();
    idle_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  Pipe p{fds[0], fds[1], 0, size};
  // Refused (EPERM above fs.pipe-max-size or past the user's pages): the
  // pipe keeps the size it has.
  if (size <= static_cast<std::size_t>(INT_MAX))
    ::fcntl(p.write_fd, F_SETPIPE_SZ, static_cast<int>(size));
  int capacity = ::fcntl(p.write_fd, F_GETPIPE_SZ);
  p.capacity = capacity > 0 ? static_cast<std::size_t>(capacity) : 4096;
  if (size != made_for_) {
    made_for_ = size;
    largest_ = 0;
  }
  if (p.capacity > largest_) largest_ = p.capacity;
  return p;
}

void PipePool::give(Pipe& p) {
  if (!p) return;
  // A pipe smaller than others made for its size (the user's pipe pages
  // were used up when it was made) is not kept: the next taker gets a new
  // one, full size once pages are free again. A size the kernel never grants
  // (above fs.pipe-max-size) makes every pipe the same size, and they are kept.
  if (idle_.size() < max_idle_ && p.asked == made_for_ && p.capacity >= largest_) {
    idle_.push_back(p);
    p = {};
  } else {
    close(p);
  }
}

void PipePool::close(Pipe& p) {
  if (p.read_fd >= 0) ::close(p.read_fd);
  if (p.write_fd >= 0) ::close(p.write_fd);
  p = {};
}

PipePool& PipePools::of(core::EventLoop& loop) {
  std::lock_guard guard(mutex_);
  auto& p = by_loop_[&loop];
  if (!p) p = std::make_unique<PipePool>();
  return *p;
}

}  // namespace postern::proxy
