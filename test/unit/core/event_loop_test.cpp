#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/event_loop.hpp"

using namespace postern::core;

TEST_CASE("posted tasks run on the loop's thread, in order") {
  EventLoop loop;
  std::vector<int> order;
  std::thread::id ran_on;
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) loop.post([&, i] { order.push_back(i); });
    loop.post([&] {
      ran_on = std::this_thread::get_id();
      loop.stop();
    });
  });
  loop.run();
  poster.join();
  CHECK(order.size() == 100);
  CHECK(std::is_sorted(order.begin(), order.end()));
  CHECK(ran_on == std::this_thread::get_id());
}

TEST_CASE("a stop before run still ends the run, and one stop ends one run") {
  EventLoop loop;
  loop.stop();
  loop.run();  // returns at once
  int ran = 0;
  loop.post([&] { ++ran; });
  loop.post([&] { loop.stop(); });
  loop.run();
  CHECK(ran == 1);
}

TEST_CASE("a timer fires once and a destroyed timer never fires") {
  EventLoop loop;
  int fired = 0;
  Timer t(loop, [&] {
    ++fired;
    loop.stop();
  });
  {
    Timer gone(loop, [&] { fired += 100; });
    gone.arm(std::chrono::milliseconds(1));
  }
  t.arm(std::chrono::milliseconds(5));
  CHECK(t.armed());
  loop.run();
  CHECK(fired == 1);
  CHECK_FALSE(t.armed());
}

TEST_CASE("a LoopThread runs posted work and joins on destruction") {
  std::atomic<int> n{0};
  {
    LoopThread lt;
    for (int i = 0; i < 10; ++i) lt.loop().post([&] { n.fetch_add(1); });
    while (n.load() < 10) std::this_thread::yield();
  }
  CHECK(n.load() == 10);
}
