#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

#include "core/worker_pool.hpp"

using namespace postern::core;

TEST_CASE("worker pool: results come back on the owner's loop") {
  WorkerPool pool(2, 16);
  EventLoop loop;
  std::thread::id worker, reply;
  int result = 0;
  REQUIRE(pool.run(
      [&] {
        worker = std::this_thread::get_id();
        return 42;
      },
      loop,
      [&](int r) {
        result = r;
        reply = std::this_thread::get_id();
        loop.stop();
      }));
  loop.run();
  CHECK(result == 42);
  CHECK(reply == std::this_thread::get_id());
  CHECK(worker != std::this_thread::get_id());
}

TEST_CASE("worker pool: a full queue refuses instead of growing") {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<int> ran{0};
  REQUIRE(pool.submit([gate, &ran] {
    gate.wait();
    ++ran;
  }));  // occupies the worker
  while (pool.queued() != 0) std::this_thread::yield();
  CHECK(pool.submit([&ran] { ++ran; }));
  CHECK(pool.submit([&ran] { ++ran; }));
  CHECK_FALSE(pool.submit([&ran] { ++ran; }));  // third queued job: refused
  release.set_value();
  while (ran.load() < 3) std::this_thread::yield();
  CHECK(ran.load() == 3);
}

TEST_CASE("worker pool: queued jobs still run when the pool is destroyed") {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(1, 100);
    for (int i = 0; i < 50; ++i) pool.submit([&ran] { ++ran; });
  }
  CHECK(ran.load() == 50);
}
