// The proxy's pump between real sockets (the rig: pump_rig.hpp): the
// buffered pump, the switch to splice(2), flow control, hang-ups.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "test/unit/proxy/pump_rig.hpp"

namespace postern::proxy {
namespace {

using namespace std::chrono_literals;
using namespace pump_testing;

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
