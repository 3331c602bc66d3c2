#include "core/event_loop.hpp"

#include <event2/event.h>
#include <event2/thread.h>

#include <cassert>
#include <mutex>
#include <stdexcept>

namespace postern::core {

void free_event_base(event_base* b) noexcept {
  event_base_free(b);
}
void free_event(event* e) noexcept {
  event_free(e);
}

namespace {

void enable_libevent_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    // post() and stop() touch a base from other threads; libevent needs its
    // locking callbacks installed before any base exists.
    if (evthread_use_pthreads() != 0) throw std::runtime_error("evthread_use_pthreads failed");
  });
}

}  // namespace

EventLoop::EventLoop() {
  enable_libevent_threads();
  base_.reset(event_base_new());
  if (!base_) throw std::runtime_error("event_base_new failed");
  wakeup_.reset(event_new(base_.get(), -1, EV_PERSIST, &EventLoop::on_wakeup, this));
  if (!wakeup_) throw std::runtime_error("event_new failed");
  // A pending (but never triggered by I/O) persistent event keeps run() alive
  // while there is nothing else to wait for.
  timeval far{86400 * 365, 0};
  event_add(wakeup_.get(), &far);
}

EventLoop::~EventLoop() {
  wakeup_.reset();
  base_.reset();
}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(task));
  }
  event_active(wakeup_.get(), EV_READ, 0);
}

void EventLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  event_active(wakeup_.get(), EV_READ, 0);
}

void EventLoop::on_wakeup(int, short, void* self) noexcept {
  static_cast<EventLoop*>(self)->run_posted();
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> tasks;
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    tasks.swap(posted_);
    stopping = stopping_;
    stopping_ = false;  // one stop() ends one run()
  }
  for (auto& t : tasks) t();
  if (stopping) event_base_loopbreak(base_.get());
}

void EventLoop::run() {
  // A stop() that came before run() (a LoopThread destroyed at once) still counts:
  // the wakeup event is already active and breaks the loop on its first turn.
  event_base_dispatch(base_.get());
}

Timer::Timer(EventLoop& loop, std::function<void()> on_fire)
    : on_fire_(std::move(on_fire)), event_(event_new(loop.base(), -1, 0, &Timer::on_fire, this)) {
  if (!event_) throw std::runtime_error("event_new failed");
}

void Timer::arm(std::chrono::milliseconds after) {
  auto ms = after.count() < 0 ? 0 : after.count();
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  event_add(event_.get(), &tv);
}

void Timer::cancel() {
  event_del(event_.get());
}

bool Timer::armed() const {
  return event_pending(event_.get(), EV_TIMEOUT, nullptr) != 0;
}

void Timer::on_fire(int, short, void* self) noexcept {
  static_cast<Timer*>(self)->on_fire_();
}

LoopThread::LoopThread() : thread_([this] { loop_.run(); }) {}

LoopThread::~LoopThread() {
  loop_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace postern::core
