// The proxy's pump between real sockets. A LoopThread runs the Pump over two
// core::Connections; the test holds the far ends ("client peer", "node peer")
// and talks to them with blocking calls (with timeouts) on its own threads.
// Socket pairs for the buffered pump; loopback TCP for the splice(2) path.
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

namespace postern::proxy {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kBuffer = 64 * 1024;

// Every byte depends on its position: a lost, doubled or reordered chunk
// shows as a difference.
std::string make_stream(std::size_t n, std::uint8_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t block = ((i >> 8) + seed) * 0x9E3779B97F4A7C15ULL;
    s[i] = static_cast<char>((block >> 40) ^ i);
  }
  return s;
}

// "" when equal, else where they part (a failure never prints megabytes).
std::string difference(const std::string& got, const std::string& want) {
  std::size_t n = std::min(got.size(), want.size());
  auto at = std::mismatch(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(n), want.begin());
  if (at.first != got.begin() + static_cast<std::ptrdiff_t>(n))
    return "first difference at byte " + std::to_string(at.first - got.begin());
  if (got.size() != want.size())
    return "got " + std::to_string(got.size()) + " bytes, want " + std::to_string(want.size());
  return "";
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Exactly `n` bytes, or fewer on EOF, error or the receive timeout.
std::string recv_exact(int fd, std::size_t n) {
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
std::string recv_to_eof(int fd, bool* eof) {
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

void set_timeouts(int fd) {
  timeval tv{5, 0};  // a stuck pump fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// {the test's end, the proxy's end}
std::pair<int, int> unix_pair() {
  int sv[2] = {-1, -1};
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  return {sv[0], sv[1]};
}

std::pair<int, int> tcp_pair(int kernel_buffer = 0) {
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
void exchange(PumpRig& rig, std::size_t n, std::uint8_t seed) {
  std::string up = make_stream(n, seed);
  std::string down = make_stream(n, static_cast<std::uint8_t>(seed + 1));
  REQUIRE(send_all(rig.client_peer(), up));
  REQUIRE(difference(recv_exact(rig.node_peer(), n), up) == "");
  REQUIRE(send_all(rig.node_peer(), down));
  REQUIRE(difference(recv_exact(rig.client_peer(), n), down) == "");
}

TEST_CASE("pump: bytes both ways arrive intact and in order, and progress() counts them") {
  PumpRig rig({});
  std::string up = make_stream(6000, 1);
  std::string down = make_stream(5000, 2);
  REQUIRE(send_all(rig.client_peer(), up.substr(0, 3000)));
  REQUIRE(send_all(rig.node_peer(), down.substr(0, 2500)));
  CHECK(difference(recv_exact(rig.node_peer(), 3000), up.substr(0, 3000)) == "");
  CHECK(difference(recv_exact(rig.client_peer(), 2500), down.substr(0, 2500)) == "");
  std::this_thread::sleep_for(30ms);
  REQUIRE(send_all(rig.node_peer(), down.substr(2500)));
  REQUIRE(send_all(rig.client_peer(), up.substr(3000)));
  CHECK(difference(recv_exact(rig.client_peer(), 2500), down.substr(2500)) == "");
  CHECK(difference(recv_exact(rig.node_peer(), 3000), up.substr(3000)) == "");

  Pump::Result p = rig.progress();
  CHECK(p.bytes_in == 6000);
  CHECK(p.bytes_out == 5000);
  CHECK_FALSE(p.spliced);
  CHECK(p.reason.empty());
  CHECK(rig.done_count() == 0);
}

TEST_CASE("pump: a client that reads nothing stops the pump reading the node") {
  PumpRig rig({});
  constexpr std::size_t kTotal = 8 << 20;
  const std::string down = make_stream(kTotal, 3);
  std::atomic<bool> wrote_all{false};
  std::jthread writer([&] { wrote_all = send_all(rig.node_peer(), down); });

  std::size_t most = 0;
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(10ms);
    most = std::max(most, rig.held_node_to_client());
  }
  // The pump pauses the node once the client's output holds `buffer`; what
  // it holds is that plus at most one read.
  CHECK(most >= kBuffer);
  CHECK(most < 2 * kBuffer + 64 * 1024);
  CHECK(rig.progress().bytes_out < kTotal / 2);
  CHECK_FALSE(wrote_all.load());

  std::string got = recv_exact(rig.client_peer(), kTotal);
  writer.join();
  CHECK(wrote_all.load());
  CHECK(difference(got, down) == "");
  CHECK(rig.progress().bytes_out == kTotal);
}

TEST_CASE("pump: the switch to splice(2) mid-stream loses, doubles and reorders nothing") {
  constexpr std::size_t kEach = 1 << 20;
  const std::string up = make_stream(kEach, 4);
  const std::string down = make_stream(kEach, 5);
  // Different thresholds put the switch at different points of the streams.
  for (std::uint64_t after : {65536U, 102401U, 204800U, 307200U, 524288U}) {
    // A pipe of one page, of the default 64 KiB, of 1 MiB (the proxy's).
    std::size_t pipe_size = after == 102401U ? 4096 : after == 307200U ? (1 << 20) : kBuffer;
    CAPTURE(after);
    CAPTURE(pipe_size);
    PumpRig rig({.tcp = true, .splice = true, .pipe_size = pipe_size, .splice_after = after});
    std::string got_up;
    std::string got_down;
    std::atomic<bool> sent_up{false};
    std::atomic<bool> sent_down{false};
    {
      // Both peers write and read at once, so bytes are in flight both ways
      // (in the kernel and in the pump's buffers) when the sockets move.
      std::jthread a([&] { sent_up = send_all(rig.client_peer(), up); });
      std::jthread b([&] { sent_down = send_all(rig.node_peer(), down); });
      std::jthread c([&] { got_up = recv_exact(rig.node_peer(), kEach); });
      std::jthread d([&] { got_down = recv_exact(rig.client_peer(), kEach); });
    }
    CHECK(sent_up.load());
    CHECK(sent_down.load());
    CHECK(difference(got_up, up) == "");
    CHECK(difference(got_down, down) == "");
    CHECK(rig.progress().spliced);

    ::shutdown(rig.client_peer(), SHUT_WR);
    REQUIRE(rig.wait_done(2s));
    Pump::Result r = rig.result();
    CHECK(r.spliced);
    CHECK(r.reason == "client_closed");
    // What the pump forwards while it waits for the switch counts too: the
    // totals feed the metrics and the session_end log line.
    CHECK(r.bytes_in == kEach);
    CHECK(r.bytes_out == kEach);
  }
}

TEST_CASE("pump: bytes forwarded while the sockets move to splice(2) are counted") {
  PumpRig rig({.tcp = true, .splice = true, .splice_after = 10000});
  exchange(rig, 4500, 16);  // 9000 bytes: just below splice_after
  // Both peers send while the loop is busy, so that one loop turn reads both
  // sockets: whichever side's callback comes first crosses splice_after, and
  // the other side's bytes are still in its input when the pump quiesces.
  const std::string up = make_stream(2000, 17);
  const std::string down = make_stream(2000, 18);
  std::promise<void> busy;
  rig.loop().post([&busy] {
    busy.set_value();
    std::this_thread::sleep_for(50ms);
  });
  busy.get_future().wait();
  REQUIRE(send_all(rig.client_peer(), up));
  REQUIRE(send_all(rig.node_peer(), down));
  CHECK(difference(recv_exact(rig.node_peer(), up.size()), up) == "");
  CHECK(difference(recv_exact(rig.client_peer(), down.size()), down) == "");
  REQUIRE(rig.wait_spliced(1s));
  rig.hang_up_client();
  REQUIRE(rig.wait_done(2s));
  Pump::Result r = rig.result();
  CHECK(r.spliced);
  CHECK(r.bytes_in == 6500);
  CHECK(r.bytes_out == 6500);
}

// The node sends 4 MiB; the client reads nothing for a while, then all.
void check_stalled_client_costs_nothing(std::size_t pipe_size) {
  CAPTURE(pipe_size);
  PumpRig rig({.tcp = true,
               .splice = true,
               .pipe_size = pipe_size,
               .splice_after = 16 * 1024,
               .client_kernel_buffer = 64 * 1024});
  exchange(rig, 16 * 1024, 20);
  REQUIRE(rig.wait_spliced(1s));
  constexpr std::size_t kTotal = 4 << 20;
  const std::string down = make_stream(kTotal, 21);
  std::atomic<bool> wrote_all{false};
  std::jthread writer([&] { wrote_all = send_all(rig.node_peer(), down); });
  std::this_thread::sleep_for(50ms);  // the socket buffers and the pipe fill up
  auto before = rig.loop_cpu();
  std::this_thread::sleep_for(300ms);
  auto used = rig.loop_cpu() - before;
  // Waiting for the client costs nothing (about 1 ms here); a loop spinning
  // on a readable socket it cannot splice into a full pipe burns most of the
  // 300 ms. The margin is wide for a sanitizer build on a busy CI machine.
  CHECK(used < 100ms);
  std::string got = recv_exact(rig.client_peer(), kTotal);
  writer.join();
  CHECK(wrote_all.load());
  CHECK(difference(got, down) == "");
}

TEST_CASE("pump: a spliced session waits without spinning while the client reads nothing") {
  check_stalled_client_costs_nothing(kBuffer);
  // A pipe fills by slots as well as by bytes (16 slots in 64 KiB, 256 in
  // the proxy's 1 MiB), so small segments can fill it well below its
  // capacity: splice(2) into it then says EAGAIN while the pump still
  // counts room (in_pipe < capacity), and the readable socket must not stay
  // armed.
  check_stalled_client_costs_nothing(1 << 20);
}

// The node sends 4 MiB through a 1 MiB pipe to a client that reads nothing
// for a while, then everything.
TEST_CASE("pump: a spliced direction holds a pipe only while its receiver is behind") {
  PumpRig rig({.tcp = true,
               .splice = true,
               .pipe_size = 1 << 20,
               .splice_after = 16 * 1024,
               .client_kernel_buffer = 64 * 1024});
  exchange(rig, 16 * 1024, 22);
  REQUIRE(rig.wait_spliced(1s));
  constexpr std::size_t kTotal = 4 << 20;
  const std::string down = make_stream(kTotal, 23);
  std::atomic<bool> wrote_all{false};
  std::jthread writer([&] { wrote_all = send_all(rig.node_peer(), down); });
  std::this_thread::sleep_for(100ms);
  CHECK(rig.pipes_idle() == 0);  // the node's bytes wait in the pipe
  std::string got = recv_exact(rig.client_peer(), kTotal);
  writer.join();
  CHECK(wrote_all.load());
  CHECK(difference(got, down) == "");
  // The client took everything: the pipe went back, and a few bytes the
  // other way take the same one and give it back.
  CHECK(rig.pipes_idle() == 1);
  exchange(rig, 100, 24);
  CHECK(rig.pipes_idle() == 1);
  ::shutdown(rig.client_peer(), SHUT_WR);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "client_closed");
  CHECK(rig.pipes_idle() == 1);
}

TEST_CASE("pump: a pipe that still holds bytes when the session ends is closed, not reused") {
  PumpRig rig({.tcp = true,
               .splice = true,
               .pipe_size = 1 << 20,
               .splice_after = 16 * 1024,
               .client_kernel_buffer = 64 * 1024});
  exchange(rig, 16 * 1024, 25);
  REQUIRE(rig.wait_spliced(1s));
  // 512 KiB the client never reads: the pipe holds some of it.
  std::string down = make_stream(512 * 1024, 26);
  REQUIRE(send_all(rig.node_peer(), down));
  std::this_thread::sleep_for(100ms);
  CHECK(rig.pipes_idle() == 0);
  rig.close_pump();
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "closed");
  // The pump is freed on a later turn of the loop; its pipe must not be
  // handed to the next session, which would send it this one's bytes.
  std::this_thread::sleep_for(50ms);
  CHECK(rig.pipes_idle() == 0);
}

TEST_CASE("pump: a short exchange below splice_after stays in the buffered pump") {
  PumpRig rig({.tcp = true, .splice = true, .splice_after = 64 * 1024});
  exchange(rig, 200, 6);
  exchange(rig, 300, 8);
  CHECK_FALSE(rig.progress().spliced);
  rig.hang_up_node();
  REQUIRE(rig.wait_done(2s));
  Pump::Result r = rig.result();
  CHECK_FALSE(r.spliced);
  CHECK(r.reason == "node_closed");
  CHECK(r.bytes_in == 500);
  CHECK(r.bytes_out == 500);
}

// One side says a last line and hangs up: the other gets the line, then EOF.
void check_hang_up(bool splice, bool node_hangs_up) {
  CAPTURE(splice);
  CAPTURE(node_hangs_up);
  PumpRig rig({.tcp = splice, .splice = splice});
  if (splice) {
    exchange(rig, 48 * 1024, 10);  // 96 KiB in all: past splice_after
    REQUIRE(rig.wait_spliced(2s));
  } else {
    exchange(rig, 100, 10);
  }
  const std::string last = "* BYE last words\r\n";
  int other = node_hangs_up ? rig.client_peer() : rig.node_peer();
  REQUIRE(send_all(node_hangs_up ? rig.node_peer() : rig.client_peer(), last));
  if (node_hangs_up) {
    rig.hang_up_node();
  } else {
    rig.hang_up_client();
  }
  bool eof = false;
  CHECK(recv_to_eof(other, &eof) == last);
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  std::this_thread::sleep_for(30ms);  // time for a second call, if one were coming
  CHECK(rig.done_count() == 1);
  CHECK(rig.done_on_loop_thread());
  Pump::Result r = rig.result();
  CHECK(r.reason == (node_hangs_up ? "node_closed" : "client_closed"));
  CHECK(r.spliced == splice);
}

TEST_CASE("pump: a hang-up reaches the other side after the last bytes, buffered") {
  check_hang_up(false, true);
  check_hang_up(false, false);
}

TEST_CASE("pump: a hang-up reaches the other side after the last bytes, spliced") {
  check_hang_up(true, true);
  check_hang_up(true, false);
}

void check_close(bool splice) {
  CAPTURE(splice);
  PumpRig rig({.tcp = splice, .splice = splice});
  exchange(rig, splice ? 48 * 1024 : 100, 12);
  if (splice) REQUIRE(rig.wait_spliced(2s));
  rig.close_pump();
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof).empty());
  CHECK(eof);
  CHECK(recv_to_eof(rig.node_peer(), &eof).empty());
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  std::this_thread::sleep_for(30ms);
  CHECK(rig.done_count() == 1);
  Pump::Result r = rig.result();
  CHECK(r.reason == "closed");
  CHECK(r.spliced == splice);
}

TEST_CASE("pump: close() ends both sides once") {
  check_close(false);
  check_close(true);
}

TEST_CASE("pump: a spliced session where nobody sends ends at the idle timeout") {
  PumpRig rig({.tcp = true, .splice = true, .idle = 200ms, .splice_after = 16 * 1024});
  exchange(rig, 16 * 1024, 14);
  REQUIRE(rig.wait_spliced(1s));
  auto quiet_since = std::chrono::steady_clock::now();
  REQUIRE(rig.wait_done(1s));
  auto waited = std::chrono::steady_clock::now() - quiet_since;
  CHECK(waited >= 100ms);
  Pump::Result r = rig.result();
  CHECK(r.spliced);
  CHECK(r.reason.ends_with("_timeout"));
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof).empty());
  CHECK(eof);
}

}  // namespace
}  // namespace postern::proxy

namespace postern::proxy {
namespace {

// One line (through its LF) from a blocking socket, or what came before EOF.
std::string recv_line(int fd) {
  std::string out;
  char c = 0;
  while (::recv(fd, &c, 1, 0) == 1) {
    out.push_back(c);
    if (c == '\n') break;
  }
  return out;
}

// The tag of the proxy's "<tag> UNAUTHENTICATE <token>" line.
std::string release_tag(const std::string& line) {
  auto sp = line.find(' ');
  REQUIRE(sp != std::string::npos);
  CHECK(line.substr(sp) == std::string(" UNAUTHENTICATE ") + kToken + "\r\n");
  return line.substr(0, sp);
}

TEST_CASE("pump handback: a LOGOUT while the node owes answers releases it now, after them") {
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), "a NOOP\r\nb LOGOUT\r\nc NOOP\r\n"));
  CHECK(recv_line(rig.node_peer()) == "a NOOP\r\n");
  const std::string tag = release_tag(recv_line(rig.node_peer()));
  // What the node still owed the client reaches it first; the node's answer
  // to the release does not.
  REQUIRE(send_all(rig.node_peer(), "* 3 EXISTS\r\na OK NOOP done\r\n"));
  REQUIRE(send_all(rig.node_peer(), tag + " OK Unauthenticated.\r\n"));
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) ==
        "* 3 EXISTS\r\na OK NOOP done\r\n* BYE Logging out.\r\nb OK Logout completed.\r\n");
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "logout");
  CHECK(rig.released());
  CHECK(rig.released_pending().empty());
  // The node's end is still open, and heard nothing after the release (the
  // client's "c NOOP" after its LOGOUT went nowhere).
  timeval tv{0, 200'000};
  ::setsockopt(rig.node_peer(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte = 0;
  CHECK(::recv(rig.node_peer(), &byte, 1, 0) < 0);
}

TEST_CASE("pump handback: the answer split anywhere is still found") {
  for (std::size_t cut : {1u, 5u, 12u, 25u, 30u}) {
    CAPTURE(cut);
    PumpRig rig({.imap_handback = true});
    REQUIRE(send_all(rig.client_peer(), "y NOOP\r\nz LOGOUT\r\n"));
    CHECK(recv_line(rig.node_peer()) == "y NOOP\r\n");
    const std::string tag = release_tag(recv_line(rig.node_peer()));
    const std::string answer = "* OK still here\r\ny OK\r\n" + tag + " OK done\r\n";
    REQUIRE(send_all(rig.node_peer(), answer.substr(0, std::min(cut, answer.size()))));
    std::this_thread::sleep_for(20ms);
    REQUIRE(send_all(rig.node_peer(), answer.substr(std::min(cut, answer.size()))));
    bool eof = false;
    CHECK(recv_to_eof(rig.client_peer(), &eof) ==
          "* OK still here\r\ny OK\r\n* BYE Logging out.\r\nz OK Logout completed.\r\n");
    REQUIRE(rig.wait_done(2s));
    CHECK(rig.released());
  }
}

TEST_CASE("pump handback: a refusal or bytes after the answer close the node connection") {
  for (const char* after : {" NO not now\r\n", " OK done\r\n* 1 EXISTS\r\n"}) {
    CAPTURE(after);
    PumpRig rig({.imap_handback = true});
    REQUIRE(send_all(rig.client_peer(), "p NOOP\r\nq LOGOUT\r\n"));
    CHECK(recv_line(rig.node_peer()) == "p NOOP\r\n");
    const std::string tag = release_tag(recv_line(rig.node_peer()));
    REQUIRE(send_all(rig.node_peer(), "p OK\r\n" + tag + after));
    bool eof = false;
    CHECK(recv_to_eof(rig.client_peer(), &eof) ==
          "p OK\r\n* BYE Logging out.\r\nq OK Logout completed.\r\n");
    REQUIRE(rig.wait_done(2s));
    CHECK_FALSE(rig.released());
    CHECK(recv_to_eof(rig.node_peer(), &eof).empty());
    CHECK(eof);
  }
}

TEST_CASE("pump handback: a client gone before the node answers still ends the session") {
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), "a NOOP\r\nb LOGOUT\r\n"));
  CHECK(recv_line(rig.node_peer()) == "a NOOP\r\n");
  const std::string tag = release_tag(recv_line(rig.node_peer()));
  rig.hang_up_client();
  std::this_thread::sleep_for(20ms);
  REQUIRE(send_all(rig.node_peer(), "* 1 EXISTS\r\na OK\r\n" + tag + " OK done\r\n"));
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.released());
}

// The node heard nothing more after `ms`.
bool node_hears_nothing(PumpRig& rig, int ms = 200) {
  timeval tv{0, ms * 1000};
  ::setsockopt(rig.node_peer(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte = 0;
  return ::recv(rig.node_peer(), &byte, 1, 0) < 0;
}

// The client sends `commands` (each answered by `answers`, in `pieces`),
// then LOGOUT once everything has arrived: with nothing owed, the goodbye
// comes at once and the UNAUTHENTICATE waits for the next user.
void check_settled_logout(const std::string& commands, const std::string& answers,
                          std::size_t pieces) {
  CAPTURE(commands);
  CAPTURE(pieces);
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), commands));
  CHECK(recv_exact(rig.node_peer(), commands.size()) == commands);
  const std::size_t step = (answers.size() + pieces - 1) / pieces;
  for (std::size_t at = 0; at < answers.size(); at += step) {
    REQUIRE(send_all(rig.node_peer(), answers.substr(at, step)));
    std::this_thread::sleep_for(5ms);
  }
  CHECK(recv_exact(rig.client_peer(), answers.size()) == answers);
  REQUIRE(send_all(rig.client_peer(), "z LOGOUT\r\n"));
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) == "* BYE Logging out.\r\nz OK Logout completed.\r\n");
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "logout");
  CHECK(rig.released());
  const std::string pending = rig.released_pending();
  CHECK(release_tag(pending).size() > 8);
  CHECK(node_hears_nothing(rig));
}

TEST_CASE("pump handback: a LOGOUT with nothing owed is answered at once; UNAUTHENTICATE waits") {
  // Straight after the login.
  check_settled_logout("", "", 1);
  check_settled_logout("a NOOP\r\n", "* 2 EXISTS\r\na OK NOOP done\r\n", 1);
  // A literal in an answer holds a line that looks tagged; split anywhere.
  const std::string fetch =
      "* 1 FETCH (BODY[] {24}\r\nb OK not an answer\r\n\r\n)\r\n* 2 FETCH (BODY[] {0}\r\n)\r\n"
      "a OK FETCH done\r\n";
  for (std::size_t pieces : {1u, 3u, 7u, 20u})
    check_settled_logout("a FETCH 1:2 BODY[]\r\n", fetch, pieces);
  check_settled_logout("a SELECT INBOX\r\n", "a OK [READ-WRITE] done\r\n", 1);
}

TEST_CASE("pump handback: a LOGOUT pipelined behind the login ends the session as it starts") {
  // The IMAP proxy puts what the client sent after its login back in the
  // client's input; start() finds the LOGOUT there.
  PumpRig rig({.imap_handback = true, .client_unread = "b LOGOUT\r\nc NOOP\r\n"});
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) == "* BYE Logging out.\r\nb OK Logout completed.\r\n");
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "logout");
  CHECK(rig.released());
  CHECK_FALSE(rig.released_pending().empty());
  CHECK(node_hears_nothing(rig));
}

// The node asked the client for data once (IDLE's "+"), or the client
// announced a literal (here one the node may frame otherwise: at the end of
// a line with an unclosed quote): the node could be reading what follows as
// data, so the UNAUTHENTICATE goes now, never behind the next user's login.
void check_release_now_after(const std::string& command, const std::string& node_says,
                             const std::string& client_then, const std::string& node_ends) {
  CAPTURE(command);
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), command));
  CHECK(recv_exact(rig.node_peer(), command.size()) == command);
  REQUIRE(send_all(rig.node_peer(), node_says));
  CHECK(recv_exact(rig.client_peer(), node_says.size()) == node_says);
  if (!client_then.empty()) {
    REQUIRE(send_all(rig.client_peer(), client_then));
    CHECK(recv_exact(rig.node_peer(), client_then.size()) == client_then);
  }
  if (!node_ends.empty()) {
    REQUIRE(send_all(rig.node_peer(), node_ends));
    CHECK(recv_exact(rig.client_peer(), node_ends.size()) == node_ends);
  }
  REQUIRE(send_all(rig.client_peer(), "z LOGOUT\r\n"));
  const std::string tag = release_tag(recv_line(rig.node_peer()));
  REQUIRE(send_all(rig.node_peer(), tag + " OK done\r\n"));
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) == "* BYE Logging out.\r\nz OK Logout completed.\r\n");
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.released());
  CHECK(rig.released_pending().empty());
}

TEST_CASE("pump handback: after the node asked for data or a literal, the release goes now") {
  // An IDLE and its DONE (one command, answered).
  check_release_now_after("a IDLE\r\n", "+ idling\r\n", "DONE\r\n", "a OK IDLE done\r\n");
  // A LITERAL+ the scanner follows and the node, refusing the line, may
  // not: the counts agree, and still nothing is known.
  check_release_now_after("a SELECT \"x {18+}\r\nh APPEND INBOX {9}\r\n", "a BAD missing quote\r\n",
                          "", "");
}

TEST_CASE("pump handback: an answer still under way sends the release now") {
  // Untagged data only, or the tagged line cut short: the node owes.
  for (const char* sent : {"* 1 EXISTS\r\n", "a OK NOO"}) {
    CAPTURE(sent);
    PumpRig rig({.imap_handback = true});
    REQUIRE(send_all(rig.client_peer(), "a NOOP\r\n"));
    CHECK(recv_line(rig.node_peer()) == "a NOOP\r\n");
    REQUIRE(send_all(rig.node_peer(), sent));
    CHECK(recv_exact(rig.client_peer(), std::strlen(sent)) == sent);
    REQUIRE(send_all(rig.client_peer(), "b LOGOUT\r\n"));
    const std::string tag = release_tag(recv_line(rig.node_peer()));
    const std::string rest = std::string(sent)[0] == '*' ? "a OK\r\n" : "P\r\n";
    REQUIRE(send_all(rig.node_peer(), rest + tag + " OK done\r\n"));
    bool eof = false;
    CHECK(recv_to_eof(rig.client_peer(), &eof) ==
          rest + "* BYE Logging out.\r\nb OK Logout completed.\r\n");
    REQUIRE(rig.wait_done(2s));
    CHECK(rig.released());
    CHECK(rig.released_pending().empty());
  }
}

TEST_CASE("pump handback: a LOGOUT inside a literal passes to the node as data") {
  PumpRig rig({.imap_handback = true});
  const std::string append = "a APPEND INBOX {10+}\r\nb LOGOUT\r\n\r\n";
  REQUIRE(send_all(rig.client_peer(), append));
  CHECK(recv_exact(rig.node_peer(), append.size()) == append);
  // The node closing ends the session as without a handback.
  rig.hang_up_node();
  bool eof = false;
  recv_to_eof(rig.client_peer(), &eof);
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "node_closed");
}

}  // namespace
}  // namespace postern::proxy
