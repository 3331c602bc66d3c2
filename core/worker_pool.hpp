// A bounded pool of threads for blocking work: fsync, SQLite, large scans,
// crypt(3). Never run such work on an event loop (DESIGN.md section 3).
//
// submit() queues a job and returns false at once when the queue is full, so
// the caller answers "try again later" instead of queueing without bound. The
// job's result goes back to the owner's loop through a completion posted
// there; a completion whose owner is gone must be harmless, so owners capture
// a std::weak_ptr (or a generation id), never `this`.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/event_loop.hpp"

namespace postern::core {

class WorkerPool {
 public:
  WorkerPool(std::size_t threads, std::size_t max_queued);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Runs the jobs already queued, then joins.
  ~WorkerPool();

  // Runs `job` on a worker. False (and nothing queued) when the queue is full
  // or the pool is stopping. Thread-safe.
  bool submit(std::function<void()> job);

  // Runs `job` on a worker, then `done(result)` on `reply`. False when full.
  template <class Job, class Done>
  bool run(Job job, Executor& reply, Done done) {
    return submit([job = std::move(job), &reply, done = std::move(done)]() mutable {
      auto result = job();
      reply.post([done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
    });
  }

  std::size_t queued() const;

 private:
  void work();

  const std::size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;  // guarded by mutex_
  bool stopping_ = false;                   // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace postern::core
