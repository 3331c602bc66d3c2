// The event loop: one libevent event_base per thread (DESIGN.md section 3).
//
// An Executor is anything that runs a task on its own thread. Results of work
// done elsewhere (the directory's connection threads, the worker pool) come back
// to their owner's loop through post(); the owner never sees a callback on a
// foreign thread.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/handles.hpp"

namespace postern::core {

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs `task` later on the executor's thread. Thread-safe. Never runs it inline.
  virtual void post(std::function<void()> task) = 0;
};

class EventLoop final : public Executor {
 public:
  EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop() override;

  event_base* base() const { return base_.get(); }

  void post(std::function<void()> task) override;

  // Runs until stop() is called. Tasks posted before stop() still run.
  void run();
  // Thread-safe; the loop returns after the current callback.
  void stop();

 private:
  static void on_wakeup(int, short, void* self) noexcept;
  void run_posted();

  EventBasePtr base_;
  EventPtr wakeup_;
  std::mutex mutex_;
  std::vector<std::function<void()>> posted_;  // guarded by mutex_
  bool stopping_ = false;                      // guarded by mutex_
};

// A one-shot or repeating timer on a loop. Destroying it cancels it, so an owner
// that holds its timers by value never gets a callback after it is gone.
class Timer {
 public:
  Timer(EventLoop& loop, std::function<void()> on_fire);
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() = default;

  void arm(std::chrono::milliseconds after);
  void cancel();
  bool armed() const;

 private:
  static void on_fire(int, short, void* self) noexcept;
  std::function<void()> on_fire_;
  EventPtr event_;
};

// An EventLoop on a thread of its own, started by the constructor and stopped and
// joined by the destructor.
class LoopThread {
 public:
  LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  ~LoopThread();

  EventLoop& loop() { return loop_; }

 private:
  EventLoop loop_;
  std::thread thread_;
};

}  // namespace postern::core
