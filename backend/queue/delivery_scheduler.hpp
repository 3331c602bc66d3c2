// The loop side of the queue (queue.hpp, DELIVERY): which message is tried
// when, per-recipient routing, the outcome of each attempt, DSNs, removal.
// Everything here runs on the queue's loop except the jobs it hands to the
// worker pool (store appends, file updates, DSN composition), whose results
// come back through LoopLink.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "backend/queue/envelope.hpp"
#include "backend/queue/queue.hpp"
#include "backend/queue/queue_spool.hpp"
#include "core/event_loop.hpp"

namespace postern::node::queue {

// Seconds since the epoch: the clock of due times and queue lifetimes.
std::int64_t now_seconds();

// The way back to the loop from worker threads. post() after close() drops
// the task (the loop is going away); every worker job is counted so that
// stop() can wait for the last one before the queue's state is destroyed.
class LoopLink {
 public:
  explicit LoopLink(core::EventLoop& loop) : loop_(&loop) {}
  void post(std::function<void()> task);
  void close();
  // Runs `job` on the pool, counted. False when the pool refused it.
  bool submit(core::WorkerPool& pool, std::function<void()> job);
  void wait_idle();

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  core::EventLoop* loop_;  // guarded by mutex_; null once closed
  std::size_t jobs_ = 0;   // guarded by mutex_
};

// A committed message as the scheduler holds it.
struct QueuedMessage {
  std::string id;
  Envelope envelope;
  std::uint64_t size = 0;
  // Known at commit (MessageSpool parsed it while writing); for a message
  // recovered at start-up it is parsed from the file before its first local
  // delivery.
  std::optional<store::MessageMeta> meta;
};

struct DsnJob;

// Queues a DSN (BLOCKING: receive + write + commit). Given by Queue.
using EnqueueFn =
    std::function<tl::expected<std::string, std::string>(const std::string& bytes, Envelope)>;

class DeliveryScheduler : public std::enable_shared_from_this<DeliveryScheduler> {
 public:
  DeliveryScheduler(core::EventLoop& loop, std::shared_ptr<LoopLink> link,
                    const QueueConfig& config, QueueDeps& deps, const QueueSpool& spool,
                    EnqueueFn enqueue, std::atomic<std::size_t>& size);
  ~DeliveryScheduler();

  // On the loop. A message already known is ignored.
  void add(QueuedMessage message);
  // On the loop: every message not being delivered is due now.
  void flush();
  // On the loop, before it stops: drops the timer and the transport.
  void shutdown();

 private:
  struct Item {
    QueuedMessage m;
    bool in_flight = false;
    bool flush = false;  // flush() came during an attempt: the next one is due at once
  };
  struct Attempt {
    std::shared_ptr<Item> item;
    std::vector<std::size_t> indexes;                       // recipients tried
    std::vector<std::optional<RecipientOutcome>> outcomes;  // by recipient index
    std::vector<bool> busy;  // by recipient index: not tried, the worker pool was full
    std::size_t parts = 0;   // deliveries still running
    bool gone = false;       // the message file disappeared (posternctl queue delete)
  };

  void pump();
  void arm_timer();
  void on_timer();
  void start_attempt(const std::shared_ptr<Item>& item);
  void parse_meta(const std::shared_ptr<Item>& item);
  void deliver_local(const std::shared_ptr<Attempt>& attempt, std::size_t index);
  void deliver_remote(const std::shared_ptr<Attempt>& attempt, std::vector<std::size_t> indexes);
  void part_done(const std::shared_ptr<Attempt>& attempt);
  void finish_attempt(const std::shared_ptr<Attempt>& attempt);
  void route_bounce(const std::shared_ptr<Item>& item, Envelope envelope,
                    std::shared_ptr<DsnJob> job);
  void bounce_routed(const std::shared_ptr<Item>& item, Envelope envelope,
                     std::shared_ptr<DsnJob> job, AddressRoute route);
  void write_back(const std::shared_ptr<Item>& item, Envelope envelope,
                  std::shared_ptr<DsnJob> job);
  void attempt_finished(const std::shared_ptr<Item>& item, Envelope envelope, bool removed,
                        bool bounced);
  void requeue_later(const std::shared_ptr<Item>& item, std::int64_t at);
  void update_size();

  core::EventLoop& loop_;
  std::shared_ptr<LoopLink> link_;
  const QueueConfig& config_;
  QueueDeps& deps_;
  const QueueSpool& spool_;
  EnqueueFn enqueue_;
  std::atomic<std::size_t>& size_;
  std::unique_ptr<RemoteTransport> transport_;
  std::unique_ptr<core::Timer> timer_;
  std::unordered_map<std::string, std::shared_ptr<Item>> items_;
  std::deque<std::string> ready_;                           // due, by arrival at the front
  std::set<std::pair<std::int64_t, std::string>> waiting_;  // (next_attempt, id)
  std::size_t in_flight_ = 0;
  // Worker jobs the pool refused, tried again by the timer a second later.
  std::vector<std::function<void()>> retry_;
  core::Gauge& queued_gauge_;
  core::Counter& bounces_;
};

}  // namespace postern::node::queue
