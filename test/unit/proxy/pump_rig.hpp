// What the pump's tests share (pump_test.cpp, pump_handback_test.cpp): a
// LoopThread runs the Pump over two core::Connections; the test holds the
// far ends ("client peer", "node peer") and talks to them with blocking
// calls (with timeouts) on its own threads. Socket pairs for the buffered
// pump; loopback TCP for the splice(2) path.
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "core/connection.hpp"
#include "core/event_loop.hpp"
#include "proxy/imap_handback.hpp"
#include "proxy/pump.hpp"

namespace postern::proxy::pump_testing {

using namespace std::chrono_literals;

constexpr std::size_t kBuffer = 64 * 1024;

// Every byte depends on its position: a lost, doubled or reordered chunk
// shows as a difference.
inline std::string make_stream(std::size_t n, std::uint8_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t block = ((i >> 8) + seed) * 0x9E3779B97F4A7C15ULL;
    s[i] = static_cast<char>((block >> 40) ^ i);
  }
  return s;
}

// "" when equal, else where they part (a failure never prints megabytes).
inline std::string difference(const std::string& got, const std::string& want) {
  std::size_t n = std::min(got.size(), want.size());
  auto at = std::mismatch(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(n), want.begin());
  if (at.first != got.begin() + static_cast<std::ptrdiff_t>(n))
    return "first difference at byte " + std::to_string(at.first - got.begin());
  if (got.size() != want.size())
    return "got " + std::to_string(got.size()) + " bytes, want " + std::to_string(want.size());
  return "";
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Exactly `n` bytes, or fewer on EOF, error or the receive timeout.
inline std::string recv_exact(int fd, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

// Everything up to EOF; `eof` is false after an error or the receive timeout.
inline std::string recv_to_eof(int fd, bool* eof) {
  std::string out;
  char buf[4096];
  *eof = false;
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) *eof = true;
    if (r <= 0) return out;
    out.append(buf, static_cast<std::size_t>(r));
  }
}

inline void set_timeouts(int fd) {
  timeval tv{5, 0};  // a stuck pump fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// {the test's end, the proxy's end}
inline std::pair<int, int> unix_pair() {
  int sv[2] = {-1, -1};
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  return {sv[0], sv[1]};
}

inline std::pair<int, int> tcp_pair(int kernel_buffer = 0) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(listener, 1) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  int outer = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // Small kernel buffers, so that a reader that stalls soon stalls the pump
  // (loopback autotuning would otherwise absorb megabytes).
  if (kernel_buffer > 0)
    REQUIRE(::setsockopt(outer, SOL_SOCKET, SO_RCVBUF, &kernel_buffer, sizeof kernel_buffer) == 0);
  REQUIRE(::connect(outer, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  int inner = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ::close(listener);
  REQUIRE(inner >= 0);
  if (kernel_buffer > 0)
    REQUIRE(::setsockopt(inner, SOL_SOCKET, SO_SNDBUF, &kernel_buffer, sizeof kernel_buffer) == 0);
  return {outer, inner};
}

struct RigOptions {
  bool tcp = false;  // loopback TCP instead of AF_UNIX socket pairs
  bool splice = false;
  std::chrono::milliseconds idle = 5s;
  std::size_t buffer = kBuffer;
  std::size_t pipe_size = kBuffer;  // the spliced phase's pipes
  std::uint64_t splice_after = 64 * 1024;
  int client_kernel_buffer = 0;  // TCP: SO_RCVBUF / SO_SNDBUF of the client's socket pair
  bool imap_handback = false;    // an ImapHandback with kToken
  std::string client_unread;     // in the client's input before the pump starts
};

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

class PumpRig {
 public:
  explicit PumpRig(RigOptions o) {
    auto [cp, cx] = o.tcp ? tcp_pair(o.client_kernel_buffer) : unix_pair();
    auto [np, nx] = o.tcp ? tcp_pair() : unix_pair();
    client_peer_ = cp;
    node_peer_ = np;
    set_timeouts(client_peer_);
    set_timeouts(node_peer_);
    on_loop([&, cx = cx, nx = nx] {
      loop_thread_ = std::this_thread::get_id();
      core::Connection::Options co;  // as ProxySession makes them
      co.max_input = o.buffer;
      co.output_low_water = o.buffer / 2;
      co.idle_timeout = o.idle;
      co.direct_write = true;
      auto client =
          std::make_unique<core::Connection>(loop(), cx, core::PeerAddress{}, co, nullptr);
      auto node = std::make_unique<core::Connection>(loop(), nx, core::PeerAddress{}, co, nullptr);
      if (!o.client_unread.empty()) client->unread(o.client_unread);
      client_conn_ = client.get();
      node_conn_ = node.get();
      std::unique_ptr<Handback> handback;
      if (o.imap_handback) {
        handback = std::make_unique<ImapHandback>(kToken, [this](auto c, std::string pending) {
          released_conn_ = std::move(c);
          released_pending_ = std::move(pending);
          released_ = true;
        });
      }
      pump_ = std::make_unique<Pump>(
          loop(), std::move(client), std::move(node), o.buffer,
          SpliceOptions{o.splice ? &pipes_ : nullptr, o.pipe_size}, o.idle,
          [this](const Pump::Result& r) { on_done(r); }, o.splice_after, std::move(handback));
      pump_->start();
    });
  }
  PumpRig(const PumpRig&) = delete;
  PumpRig& operator=(const PumpRig&) = delete;
  ~PumpRig() {
    on_loop([this] {
      pump_.reset();
      released_conn_.reset();
    });
    close_peer(client_peer_);
    close_peer(node_peer_);
  }

  core::EventLoop& loop() { return thread_.loop(); }
  int client_peer() const { return client_peer_; }
  int node_peer() const { return node_peer_; }
  static void close_peer(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void hang_up_client() { close_peer(client_peer_); }
  void hang_up_node() { close_peer(node_peer_); }

  // Runs `f` on the loop thread and returns its result.
  template <typename F>
  auto on_loop(F&& f) -> decltype(f()) {
    using R = decltype(f());
    std::promise<R> p;
    auto result = p.get_future();
    loop().post([&] {
      if constexpr (std::is_void_v<R>) {
        f();
        p.set_value();
      } else {
        p.set_value(f());
      }
    });
    return result.get();
  }

  // The node connection the handback gave back (still open), if any.
  bool released() {
    return on_loop([this] { return released_ && released_conn_ && !released_conn_->closed(); });
  }
  // What the next user of the released connection must send first.
  std::string released_pending() {
    return on_loop([this] { return released_pending_; });
  }

  Pump::Result progress() {
    return on_loop([this] { return pump_ ? pump_->progress() : Pump::Result{}; });
  }
  // Node-to-client bytes in the pump's hands: the client's output and the
  // node's input.
  std::size_t held_node_to_client() {
    return on_loop([this]() -> std::size_t {
      if (!pump_ || client_conn_->closed() || node_conn_->closed()) return 0;
      return client_conn_->output_pending() + node_conn_->input_size();
    });
  }
  // Empty pipes waiting in the rig's pool (the pump's directions give theirs
  // back once the receiver has taken every byte).
  std::size_t pipes_idle() {
    return on_loop([this] { return pipes_.idle(); });
  }
  // CPU time the loop thread has used so far.
  std::chrono::microseconds loop_cpu() {
    return on_loop([] {
      rusage u{};
      ::getrusage(RUSAGE_THREAD, &u);
      return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
             std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
    });
  }
  void close_pump() {
    on_loop([this] {
      if (pump_) pump_->close();
    });
  }
  bool wait_spliced(std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!progress().spliced) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }
  bool wait_done(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [this] { return done_count_ > 0; });
  }
  int done_count() {
    std::lock_guard lock(mutex_);
    return done_count_;
  }
  Pump::Result result() {
    std::lock_guard lock(mutex_);
    return result_;
  }
  bool done_on_loop_thread() {
    std::lock_guard lock(mutex_);
    return done_on_loop_thread_;
  }

 private:
  void on_done(const Pump::Result& r) {
    {
      std::lock_guard lock(mutex_);
      ++done_count_;
      result_ = r;
      done_on_loop_thread_ = std::this_thread::get_id() == loop_thread_;
    }
    cv_.notify_all();
    // Never inside `done` (pump.hpp): on a later turn of the loop.
    loop().post([this] { pump_.reset(); });
  }

  core::LoopThread thread_;  // first: it outlives every task posted to it
  PipePool pipes_;           // outlives the pump, which gives its pipes back
  std::thread::id loop_thread_;
  int client_peer_ = -1;
  int node_peer_ = -1;
  std::unique_ptr<Pump> pump_;  // touched on the loop thread only
  std::unique_ptr<core::Connection> released_conn_;
  std::string released_pending_;
  bool released_ = false;
  core::Connection* client_conn_{};  // owned by pump_
  core::Connection* node_conn_{};
  std::mutex mutex_;
  std::condition_variable cv_;
  int done_count_ = 0;
  Pump::Result result_;
  bool done_on_loop_thread_ = false;
};

// `n` bytes client to node, then `n` node to client, each read by the far end.
inline void exchange(PumpRig& rig, std::size_t n, std::uint8_t seed) {
  std::string up = make_stream(n, seed);
  std::string down = make_stream(n, static_cast<std::uint8_t>(seed + 1));
  REQUIRE(send_all(rig.client_peer(), up));
  REQUIRE(difference(recv_exact(rig.node_peer(), n), up) == "");
  REQUIRE(send_all(rig.node_peer(), down));
  REQUIRE(difference(recv_exact(rig.client_peer(), n), down) == "");
}

}  // namespace postern::proxy::pump_testing
