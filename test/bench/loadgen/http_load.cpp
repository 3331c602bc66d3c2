#include "test/bench/loadgen/http_load.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "test/bench/loadgen/login_load.hpp"
#include "test/bench/loadgen/net_util.hpp"

namespace postern::bench {
namespace {

constexpr std::size_t kReadChunk = 256 * 1024;

bool iequal_prefix(const std::string& s, std::size_t at, const char* prefix) {
  const std::size_t n = std::strlen(prefix);
  if (s.size() < at + n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(s[at + i])) != prefix[i]) return false;
  }
  return true;
}

// One response being read from `in`: Complete, NeedMore, or Bad.
enum class Parse { Complete, NeedMore, Bad };

struct ResponseReader {
  int status = 0;
  bool chunked = false;
  bool close = false;
  std::size_t body_left = 0;  // Content-Length still to come, or the current chunk's
  bool in_head = true;
  bool chunk_trailer = false;  // after the last chunk: the empty line to come
  std::size_t body_bytes = 0;

  void reset() { *this = ResponseReader{}; }

  Parse feed(std::string& in) {
    if (in_head) {
      const std::size_t end = in.find("\r\n\r\n");
      if (end == std::string::npos) return in.size() > 65536 ? Parse::Bad : Parse::NeedMore;
      if (in.compare(0, 5, "HTTP/") != 0 || in.size() < 12) return Parse::Bad;
      status = std::atoi(in.c_str() + 9);
      bool has_length = false;
      for (std::size_t line = in.find("\r\n") + 2; line < end; line = in.find("\r\n", line) + 2) {
        if (iequal_prefix(in, line, "content-length:")) {
          body_left = std::strtoull(in.c_str() + line + 15, nullptr, 10);
          has_length = true;
        } else if (iequal_prefix(in, line, "transfer-encoding:")) {
          chunked = in.find("chunked", line) < in.find("\r\n", line);
        } else if (iequal_prefix(in, line, "connection:")) {
          close = in.find("close", line) < in.find("\r\n", line);
        }
      }
      if (!has_length && !chunked && status != 204 && status != 304) close = true;
      in.erase(0, end + 4);
      in_head = false;
      if (chunked) body_left = 0;
      chunk_trailer = false;
    }
    if (!chunked) {
      const std::size_t take = std::min(body_left, in.size());
      in.erase(0, take);
      body_left -= take;
      body_bytes += take;
      return body_left == 0 ? Parse::Complete : Parse::NeedMore;
    }
    for (;;) {
      if (body_left > 0) {
        const std::size_t take = std::min(body_left, in.size());
        in.erase(0, take);
        body_left -= take;
        body_bytes += take;
        if (body_left > 0) return Parse::NeedMore;
        chunk_trailer = true;  // the CRLF after the chunk's data
      }
      const std::size_t eol = in.find("\r\n");
      if (eol == std::string::npos) return Parse::NeedMore;
      if (chunk_trailer) {
        chunk_trailer = false;
        in.erase(0, eol + 2);
        continue;
      }
      const std::size_t size = std::strtoull(in.c_str(), nullptr, 16);
      in.erase(0, eol + 2);
      if (size == 0) {  // last chunk; no trailer fields expected
        const std::size_t end = in.find("\r\n");
        if (end == std::string::npos) return Parse::NeedMore;
        in.erase(0, end + 2);
        return Parse::Complete;
      }
      body_left = size;
    }
  }
};

struct Conn {
  int fd = -1;
  std::string in;
  ResponseReader response;
  double sent_at = 0;
  std::size_t next_path = 0;
  bool connected = false;
};

class HttpLoad {
 public:
  explicit HttpLoad(const HttpLoadOptions& o)
      : o_(o), conns_(static_cast<std::size_t>(o.connections)) {
    for (std::size_t i = 0; i < o.paths.size(); ++i) {
      std::string r = "GET " + o.paths[i] + " HTTP/1.1\r\nHost: " + o.host + "\r\n";
      for (const auto& h : o.headers) r += h + "\r\n";
      requests_.push_back(r + "\r\n");
    }
  }

  int run() {
    epoll_ = epoll_create1(0);
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].next_path = i % requests_.size();
      open(i);
    }
    const double start = now_seconds();
    const double end = start + o_.seconds;
    std::vector<epoll_event> events(256);
    while (now_seconds() < end) {
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
      for (int k = 0; k < n; ++k) on_event(events[k].data.u64, events[k].events);
      const double now = now_seconds();
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        if (conns_[i].fd >= 0 && now - conns_[i].sent_at > o_.timeout) fail(i, "timeout");
      }
    }
    const double elapsed = now_seconds() - start;
    for (auto& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    print(elapsed);
    return 0;
  }

 private:
  void open(std::size_t i) {
    Conn& c = conns_[i];
    c.in.clear();
    c.response.reset();
    c.fd = connect_nonblocking(o_.target);
    c.sent_at = now_seconds();
    c.connected = false;
    if (c.fd < 0) {
      ++errors_["connect"];
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = i;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void send_next(std::size_t i) {
    Conn& c = conns_[i];
    c.sent_at = now_seconds();
    c.response.reset();
    const std::string& r = requests_[c.next_path];
    c.next_path = (c.next_path + 1) % requests_.size();
    if (!send_all(c.fd, r)) fail(i, "send");
  }

  void fail(std::size_t i, const char* kind) {
    ++errors_[kind];
    if (samples_.size() < 3) samples_.push_back(kind);
    reconnect(i);
  }

  void reconnect(std::size_t i) {
    Conn& c = conns_[i];
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    ++reconnects_;
    open(i);
  }

  void on_event(std::uint64_t i, std::uint32_t events) {
    Conn& c = conns_[i];
    if (c.fd < 0) return;
    if (!c.connected) {
      if (events & (EPOLLERR | EPOLLHUP)) return fail(i, "connect");
      c.connected = true;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
      send_next(i);
      return;
    }
    char buf[kReadChunk];
    for (;;) {
      const ssize_t got = recv(c.fd, buf, sizeof buf, 0);
      if (got == 0) return fail(i, "closed");
      if (got < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return fail(i, "recv");
      }
      c.in.append(buf, static_cast<std::size_t>(got));
      bytes_ += static_cast<std::size_t>(got);
      if (static_cast<std::size_t>(got) < sizeof buf) break;
    }
    while (c.fd >= 0) {
      const Parse p = c.response.feed(c.in);
      if (p == Parse::NeedMore) return;
      if (p == Parse::Bad) return fail(i, "bad_response");
      const int status = c.response.status;
      latencies_.push_back(static_cast<float>((now_seconds() - c.sent_at) * 1000));
      if (status >= 200 && status < 300) {
        ++ok_;
      } else {
        ++errors_["status_" + std::to_string(status)];
      }
      if (c.response.close) {
        reconnect(i);
        return;
      }
      if (!c.in.empty()) return fail(i, "unrequested_data");
      send_next(i);
      return;
    }
  }

  void print(double elapsed) {
    std::sort(latencies_.begin(), latencies_.end());
    auto pct = [&](double q) -> double {
      if (latencies_.empty()) return 0.0;
      const auto at =
          std::min(latencies_.size() - 1, static_cast<std::size_t>(q * latencies_.size()));
      return static_cast<double>(latencies_[at]);
    };
    std::string errors = "{";
    long error_count = 0;
    for (const auto& [k, v] : errors_) {
      errors += (errors.size() > 1 ? "," : "") + json_string(k) + ":" + std::to_string(v);
      error_count += v;
    }
    errors += "}";
    std::string samples = "[";
    for (const auto& s : samples_) samples += (samples.size() > 1 ? "," : "") + json_string(s);
    samples += "]";
    std::printf(
        "{\"mode\":\"http\",\"connections\":%d,\"seconds\":%.3f,\"requests\":%ld,"
        "\"requests_per_second\":%.1f,\"bytes\":%zu,\"reconnects\":%ld,\"error_count\":%ld,"
        "\"errors\":%s,\"error_samples\":%s,\"latency_ms\":{\"p50\":%.2f,\"p90\":%.2f,"
        "\"p99\":%.2f}}\n",
        o_.connections, elapsed, ok_, static_cast<double>(ok_) / elapsed, bytes_, reconnects_,
        error_count, errors.c_str(), samples.c_str(), pct(0.5), pct(0.9), pct(0.99));
    std::fflush(stdout);
  }

  const HttpLoadOptions& o_;
  std::vector<Conn> conns_;
  std::vector<std::string> requests_;
  int epoll_ = -1;
  long ok_ = 0;
  long reconnects_ = 0;
  std::size_t bytes_ = 0;
  std::map<std::string, long> errors_;
  std::vector<std::string> samples_;
  std::vector<float> latencies_;
};

}  // namespace

int run_http_load(const HttpLoadOptions& options) {
  if (options.paths.empty() || options.connections <= 0) {
    std::fprintf(stderr, "loadgen http: needs paths and connections\n");
    return 2;
  }
  return HttpLoad(options).run();
}

int run_http_stub(const sockaddr_in& at, std::size_t body_size) {
  const int listener = listen_on(at);
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body_size) + "\r\n\r\n" + std::string(body_size, 'x');
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::map<int, std::string> pending;
  std::printf("{\"mode\":\"http-stub\",\"listening\":true}\n");
  std::fflush(stdout);
  std::vector<epoll_event> events(256);
  char buf[65536];
  for (;;) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int k = 0; k < n; ++k) {
      const int fd = events[k].data.fd;
      if (fd == listener) {
        for (int c; (c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      const ssize_t got = recv(fd, buf, sizeof buf, 0);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        pending.erase(fd);
        close(fd);
        continue;
      }
      std::string& in = pending[fd];
      in.append(buf, static_cast<std::size_t>(got));
      for (std::size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
        in.erase(0, end + 4);
        if (!send_all(fd, response)) break;
      }
    }
  }
}

}  // namespace postern::bench
