#include "test/bench/loadgen/fetch_load.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "test/bench/loadgen/login_load.hpp"

namespace postern::bench {
namespace {

constexpr std::size_t kChunk = 1 << 20;

class Reader {
 public:
  explicit Reader(int fd) : fd_(fd), buf_(kChunk) {}

  // The next line without CRLF; false on EOF or error.
  bool line(std::string& out) {
    for (;;) {
      if (auto pos = pending_.find('\n'); pos != std::string::npos) {
        out = pending_.substr(0, pos);
        pending_.erase(0, pos + 1);
        if (!out.empty() && out.back() == '\r') out.pop_back();
        return true;
      }
      if (!fill()) return false;
    }
  }

  // Reads and discards `n` bytes (the literal); false on EOF.
  bool skip(std::size_t n) {
    std::size_t from_pending = std::min(n, pending_.size());
    pending_.erase(0, from_pending);
    n -= from_pending;
    while (n > 0) {
      ssize_t got = recv(fd_, buf_.data(), std::min(n, buf_.size()), 0);
      if (got <= 0) return false;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }

 private:
  bool fill() {
    ssize_t got = recv(fd_, buf_.data(), 4096, 0);
    if (got <= 0) return false;
    pending_.append(buf_.data(), static_cast<std::size_t>(got));
    return true;
  }

  int fd_;
  std::vector<char> buf_;
  std::string pending_;
};

[[noreturn]] void die(const std::string& what) {
  std::printf("{\"mode\":\"fetch\",\"error\":%s}\n", json_string(what).c_str());
  std::exit(1);
}

// Sends `tag command` and reads to the tagged line; returns the literal size
// seen in the response (0 if none) and dies on anything but OK.
std::size_t command(int fd, Reader& r, const std::string& tag, const std::string& text) {
  if (!send_all(fd, tag + " " + text + "\r\n")) die("send failed");
  std::size_t literal = 0;
  std::string line;
  for (;;) {
    if (!r.line(line)) die("connection closed during " + text);
    if (line.size() > 2 && line.back() == '}') {
      auto open = line.rfind('{');
      std::size_t n = std::strtoull(line.c_str() + open + 1, nullptr, 10);
      if (!r.skip(n)) die("connection closed in a literal");
      literal += n;
      continue;
    }
    if (line.compare(0, tag.size() + 1, tag + " ") == 0) {
      if (line.compare(tag.size() + 1, 2, "OK") != 0) die(text + ": " + line);
      return literal;
    }
  }
}

}  // namespace

int run_fetch(const FetchOptions& o) {
  int fd = connect_blocking(o.target);
  if (fd < 0) die(std::string("connect: ") + std::strerror(errno));
  Reader r(fd);
  std::string greeting;
  if (!r.line(greeting) || greeting.compare(0, 4, "* OK") != 0) die("greeting: " + greeting);
  command(fd, r, "l", "LOGIN \"" + o.user.login + "\" \"" + o.user.password + "\"");
  command(fd, r, "s", "SELECT \"" + o.mailbox + "\"");
  std::string fetch = "UID FETCH " + std::to_string(o.uid) + " BODY[]";
  std::size_t size = command(fd, r, "w", fetch);  // warm-up: caches on every side
  if (size == 0) die("UID " + std::to_string(o.uid) + ": no literal in the FETCH response");
  std::string each;
  double total = 0;
  for (int i = 0; i < o.iterations; ++i) {
    double t0 = now_seconds();
    command(fd, r, "f" + std::to_string(i), fetch);
    double dt = now_seconds() - t0;
    total += dt;
    char item[32];
    std::snprintf(item, sizeof item, "%s%.4f", i ? "," : "", dt);
    each += item;
  }
  command(fd, r, "z", "LOGOUT");
  close(fd);
  double bytes = static_cast<double>(size) * o.iterations;
  std::printf(
      "{\"mode\":\"fetch\",\"size\":%zu,\"iterations\":%d,\"seconds\":%.4f,"
      "\"mb_per_second\":%.1f,\"each\":[%s]}\n",
      size, o.iterations, total, bytes / total / 1e6, each.c_str());
  return 0;
}

}  // namespace postern::bench
