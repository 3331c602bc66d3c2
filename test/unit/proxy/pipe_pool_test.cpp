// The spliced sessions' pipe pool (proxy/pipe_pool): sizes, reuse, bounds.

#include "proxy/pipe_pool.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <string>

namespace postern::proxy {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

// Writes `n` bytes into the pipe without blocking: how many it took.
std::size_t fill(const Pipe& p, std::size_t n) {
  std::string chunk(4096, 'x');
  std::size_t total = 0;
  while (total < n) {
    ssize_t w = ::write(p.write_fd, chunk.data(), std::min(chunk.size(), n - total));
    if (w <= 0) break;
    total += static_cast<std::size_t>(w);
  }
  return total;
}

}  // namespace

TEST_CASE("pipe pool: a pipe is made the size asked, rounded up to whole pages") {
  PipePool pool;
  Pipe big = pool.take(1 << 20);  // fs.pipe-max-size's default: anyone may
  REQUIRE(big);
  CHECK(big.capacity == 1 << 20);
  CHECK(fill(big, 2 << 20) == 1 << 20);  // it holds what it says, no more
  CHECK((::fcntl(big.write_fd, F_GETFL) & O_NONBLOCK) != 0);
  CHECK((::fcntl(big.read_fd, F_GETFL) & O_NONBLOCK) != 0);
  Pipe odd = pool.take(5000);
  REQUIRE(odd);
  CHECK(odd.capacity == 8192);
  PipePool::close(big);
  PipePool::close(odd);
  CHECK_FALSE(big);
}

TEST_CASE("pipe pool: a pipe given back is the next one taken") {
  PipePool pool;
  Pipe a = pool.take(65536);
  REQUIRE(a);
  const int fd = a.read_fd;
  pool.give(a);
  CHECK_FALSE(a);
  CHECK(pool.idle() == 1);
  Pipe again = pool.take(65536);
  CHECK(again.read_fd == fd);
  CHECK(pool.idle() == 0);
  PipePool::close(again);
}

TEST_CASE("pipe pool: pipes made for another size are closed, not handed out") {
  PipePool pool;
  Pipe a = pool.take(65536);
  REQUIRE(a);
  const int old_read = a.read_fd;
  const int old_write = a.write_fd;
  pool.give(a);
  // A reload changed proxy.splice_pipe.
  Pipe b = pool.take(1 << 20);
  REQUIRE(b);
  CHECK(b.capacity == 1 << 20);
  CHECK(pool.idle() == 0);
  // The old pipe's descriptors were closed (the new pipe may reuse a number).
  if (b.read_fd != old_read && b.write_fd != old_read) CHECK_FALSE(is_open(old_read));
  if (b.read_fd != old_write && b.write_fd != old_write) CHECK_FALSE(is_open(old_write));
  PipePool::close(b);
}

TEST_CASE("pipe pool: at most max_idle pipes wait; the others are closed") {
  PipePool pool(2);
  Pipe p[3] = {pool.take(4096), pool.take(4096), pool.take(4096)};
  const int last_read = p[2].read_fd;
  for (Pipe& x : p) {
    REQUIRE(x);
    pool.give(x);
    CHECK_FALSE(x);
  }
  CHECK(pool.idle() == 2);
  CHECK_FALSE(is_open(last_read));
}

TEST_CASE("pipe pool: a pipe smaller than the others of its size is closed, not kept") {
  PipePool pool;
  Pipe full = pool.take(256 * 1024);
  REQUIRE(full);
  REQUIRE(full.capacity == 256 * 1024);
  // As when the user's pipe pages ran out: the kernel kept the default size.
  int fds[2];
  REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
  const int capacity = ::fcntl(fds[1], F_GETPIPE_SZ);
  REQUIRE(capacity > 0);
  REQUIRE(static_cast<std::size_t>(capacity) < full.capacity);
  Pipe small{fds[0], fds[1], static_cast<std::size_t>(capacity), 256 * 1024};
  pool.give(small);
  CHECK_FALSE(small);
  CHECK(pool.idle() == 0);
  CHECK_FALSE(is_open(fds[0]));
  CHECK_FALSE(is_open(fds[1]));
  pool.give(full);
  CHECK(pool.idle() == 1);
}

TEST_CASE("pipe pool: a pool closes its idle pipes when it goes") {
  int fds[2];
  {
    PipePool pool;
    Pipe a = pool.take(4096);
    REQUIRE(a);
    fds[0] = a.read_fd;
    fds[1] = a.write_fd;
    pool.give(a);
  }
  CHECK_FALSE(is_open(fds[0]));
  CHECK_FALSE(is_open(fds[1]));
}

}  // namespace postern::proxy
