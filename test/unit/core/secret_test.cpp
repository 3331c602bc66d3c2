// core/secret: random bytes drawn in blocks per thread, and Secret's wiping.
#include "core/secret.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>

using namespace postern::core;

TEST_CASE("random_hex: lowercase hex of the size asked, never the same twice") {
  std::set<std::string> seen;
  // More than one block's worth of 16-byte tokens.
  for (int i = 0; i < 1000; ++i) {
    auto token = random_hex(16);
    REQUIRE(token.size() == 32);
    CHECK(token.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(seen.insert(token).second);
  }
  CHECK(random_hex(0).empty());
  // Larger than a block, and a size that does not divide one.
  CHECK(random_hex(5000).size() == 10000);
  CHECK(random_hex(3).size() == 6);
}

TEST_CASE("random_bytes: threads draw from their own blocks, with different bytes") {
  std::string here = random_hex(16);
  std::string there;
  std::thread([&] { there = random_hex(16); }).join();
  CHECK(here != there);
}

TEST_CASE("random_bytes: a forked child does not repeat its parent's next bytes") {
  (void)random_hex(16);  // the block is filled and partly used
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto token = random_hex(16);
    ssize_t n = write(fds[1], token.data(), token.size());
    _exit(n == 32 ? 0 : 1);
  }
  ::close(fds[1]);
  char buf[32];
  REQUIRE(read(fds[0], buf, sizeof buf) == 32);
  ::close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(std::string(buf, 32) != random_hex(16));
}

TEST_CASE("Secret: reveal, and empty after a move") {
  Secret s("hunter2");
  CHECK(s.reveal() == "hunter2");
  Secret t(std::move(s));
  CHECK(t.reveal() == "hunter2");
  CHECK(s.reveal().empty());  // NOLINT(bugprone-use-after-move): what a move leaves
}
