#include "backend/queue/delivery_scheduler.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "backend/queue/envelope_codec.hpp"
#include "backend/queue/local_transport.hpp"
#include "core/log.hpp"

namespace postern::node::queue {

using Status = RecipientOutcome::Status;

// ---- LoopLink ---------------------------------------------------------------

void LoopLink::post(std::function<void()> task) {
  std::lock_guard lock(mutex_);
  if (loop_ != nullptr) loop_->post(std::move(task));
}

void LoopLink::close() {
  std::lock_guard lock(mutex_);
  loop_ = nullptr;
}

bool LoopLink::submit(core::WorkerPool& pool, std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    ++jobs_;
  }
  // The job must not touch `this` after the decrement: wait_idle() may then
  // return and the owner destroy everything.
  bool queued = pool.submit([this, job = std::move(job)] {
    job();
    std::lock_guard lock(mutex_);
    if (--jobs_ == 0) idle_.notify_all();
  });
  if (!queued) {
    std::lock_guard lock(mutex_);
    if (--jobs_ == 0) idle_.notify_all();
  }
  return queued;
}

void LoopLink::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return jobs_ == 0; });
}

// ---- the scheduler ------------------------------------------------------------

std::int64_t now_seconds() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : lower(address.substr(at + 1));
}

RecipientOutcome outcome(Status status, std::string reply) {
  RecipientOutcome o;
  o.status = status;
  o.reply = std::move(reply);
  return o;
}

}  // namespace

DeliveryScheduler::DeliveryScheduler(core::EventLoop& loop, std::shared_ptr<LoopLink> link,
                                     const QueueConfig& config, QueueDeps& deps,
                                     const QueueSpool& spool, EnqueueFn enqueue,
                                     std::atomic<std::size_t>& size)
    : loop_(loop),
      link_(std::move(link)),
      config_(config),
      deps_(deps),
      spool_(spool),
      enqueue_(std::move(enqueue)),
      size_(size),
      queued_gauge_(deps.metrics.gauge("postern_queue_messages", "Messages in the mail queue")),
      bounces_(deps.metrics.counter("postern_queue_bounces_total",
                                    "Delivery status notifications queued")) {
  timer_ = std::make_unique<core::Timer>(loop_, [this] { on_timer(); });
  if (deps_.make_transport) transport_ = deps_.make_transport(loop_);
}

DeliveryScheduler::~DeliveryScheduler() = default;

void DeliveryScheduler::shutdown() {
  timer_.reset();
  if (transport_) transport_->shutdown();
  transport_.reset();
}

void DeliveryScheduler::update_size() {
  queued_gauge_.set(static_cast<std::int64_t>(size_.load()));
}

void DeliveryScheduler::add(QueuedMessage message) {
  // The caller counted it in size_ already (Queue::size() must include a
  // message from its commit on, before this task runs).
  if (items_.count(message.id) != 0) {
    --size_;
    return;
  }
  auto item = std::make_shared<Item>();
  item->m = std::move(message);
  items_[item->m.id] = item;
  update_size();
  requeue_later(item, item->m.envelope.next_attempt);
  pump();
}

void DeliveryScheduler::flush() {
  for (auto& [id, item] : items_) item->flush = item->in_flight;
  for (const auto& [at, id] : waiting_) ready_.push_back(id);
  waiting_.clear();
  arm_timer();
  pump();
}

void DeliveryScheduler::requeue_later(const std::shared_ptr<Item>& item, std::int64_t at) {
  if (at <= now_seconds()) {
    ready_.push_back(item->m.id);
  } else {
    waiting_.emplace(at, item->m.id);
    arm_timer();
  }
}

void DeliveryScheduler::arm_timer() {
  if (!timer_) return;
  if (waiting_.empty() && retry_.empty()) {
    timer_->cancel();
    return;
  }
  std::int64_t wait = retry_.empty() ? INT64_MAX : 1;
  if (!waiting_.empty())
    wait = std::min(wait, std::max<std::int64_t>(0, waiting_.begin()->first - now_seconds()));
  timer_->arm(std::chrono::milliseconds(wait * 1000));
}

void DeliveryScheduler::on_timer() {
  std::vector<std::function<void()>> retry;
  retry.swap(retry_);
  for (auto& job : retry) job();
  std::int64_t now = now_seconds();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    ready_.push_back(waiting_.begin()->second);
    waiting_.erase(waiting_.begin());
  }
  arm_timer();
  pump();
}

void DeliveryScheduler::pump() {
  while (in_flight_ < config_.max_deliveries && !ready_.empty()) {
    std::string id = std::move(ready_.front());
    ready_.pop_front();
    auto it = items_.find(id);
    if (it == items_.end() || it->second->in_flight) continue;
    start_attempt(it->second);
  }
}

void DeliveryScheduler::start_attempt(const std::shared_ptr<Item>& item) {
  const Envelope& env = item->m.envelope;
  auto attempt = std::make_shared<Attempt>();
  attempt->item = item;
  attempt->outcomes.resize(env.recipients.size());
  attempt->busy.resize(env.recipients.size(), false);
  bool local = false;
  std::map<std::string, std::vector<std::size_t>> remote;  // by destination
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    const Recipient& r = env.recipients[i];
    if (r.state != RecipientState::Pending) continue;
    attempt->indexes.push_back(i);
    if (r.route == Route::Local) {
      local = true;
    } else {
      remote[r.route == Route::Node ? "node " + r.node : "mx " + domain_of(r.address)].push_back(i);
    }
  }
  if (local && !item->m.meta) {
    parse_meta(item);
    return;
  }
  item->in_flight = true;
  ++in_flight_;
  // Count every part before starting any: a part may finish at once.
  attempt->parts = remote.size() + 1;
  for (std::size_t i : attempt->indexes) {
    if (env.recipients[i].route == Route::Local) {
      ++attempt->parts;
      deliver_local(attempt, i);
    }
  }
  for (auto& [destination, indexes] : remote) deliver_remote(attempt, std::move(indexes));
  part_done(attempt);  // the +1 above
}

void DeliveryScheduler::parse_meta(const std::shared_ptr<Item>& item) {
  item->in_flight = true;
  ++in_flight_;
  std::weak_ptr<DeliveryScheduler> weak = weak_from_this();
  std::string path = spool_.msg_path(item->m.id);
  auto link = link_;
  bool queued = link_->submit(deps_.workers, [weak, link, item, path] {
    auto meta = message_meta_from_file(path);
    link->post([weak, item, meta = std::move(meta)]() mutable {
      auto self = weak.lock();
      if (!self) return;
      item->in_flight = false;
      --self->in_flight_;
      // A file that cannot be read: the attempt reports it per recipient.
      item->m.meta = meta ? std::move(*meta) : store::MessageMeta{};
      self->start_attempt(item);
      self->pump();
    });
  });
  if (!queued) {
    item->in_flight = false;
    --in_flight_;
    requeue_later(item, now_seconds() + 1);
  }
}

void DeliveryScheduler::deliver_local(const std::shared_ptr<Attempt>& attempt, std::size_t index) {
  const QueuedMessage& m = attempt->item->m;
  LocalJob job{m.envelope.recipients[index], spool_.msg_path(m.id), m.size, *m.meta,
               m.envelope.arrival};
  std::weak_ptr<DeliveryScheduler> weak = weak_from_this();
  auto link = link_;
  store::Store& store = deps_.store;
  bool queued =
      link_->submit(deps_.workers, [weak, link, attempt, index, &store, job = std::move(job)] {
        LocalResult result = deliver_to_store(store, job);
        link->post([weak, attempt, index, result = std::move(result)] {
          auto self = weak.lock();
          if (!self) return;
          attempt->outcomes[index] = result.outcome;
          attempt->gone = attempt->gone || result.message_gone;
          self->part_done(attempt);
        });
      });
  if (!queued) {
    attempt->busy[index] = true;
    attempt->outcomes[index] = outcome(Status::TempFail, "451 4.3.0 local delivery busy");
    loop_.post([weak, attempt] {
      if (auto self = weak.lock()) self->part_done(attempt);
    });
  }
}

void DeliveryScheduler::deliver_remote(const std::shared_ptr<Attempt>& attempt,
                                       std::vector<std::size_t> indexes) {
  const QueuedMessage& m = attempt->item->m;
  const Recipient& first = m.envelope.recipients[indexes.front()];
  std::weak_ptr<DeliveryScheduler> weak = weak_from_this();
  auto fail_all = [&](std::string reply) {
    core::log_warn("queue_no_route")
        .kv("queue_id", m.id)
        .kv("route", route_name(first.route))
        .kv("node", first.node)
        .kv("reply", reply);
    for (std::size_t i : indexes) attempt->outcomes[i] = outcome(Status::TempFail, reply);
    loop_.post([weak, attempt] {
      if (auto self = weak.lock()) self->part_done(attempt);
    });
  };
  RemoteDelivery d;
  d.queue_id = m.id;
  d.sender = m.envelope.sender;
  for (std::size_t i : indexes) d.recipients.push_back(m.envelope.recipients[i]);
  d.route = first.route;
  d.domain = domain_of(first.address);
  if (first.route == Route::Node) {
    auto node = deps_.nodes.find(first.node);
    if (node == deps_.nodes.end())
      return fail_all(
          fmt::format("451 4.4.0 node \"{}\" has no SMTP address in this node's "
                      "configuration",
                      first.node));
    d.relay = node->second;
  }
  if (!transport_) return fail_all("451 4.4.0 no transport for remote delivery");
  d.message_path = spool_.msg_path(m.id);
  d.size = m.size;
  d.eight_bit = m.envelope.eight_bit;
  d.smtputf8 = m.envelope.smtputf8;
  d.ret = m.envelope.ret;
  d.envid = m.envelope.envid;
  transport_->deliver(std::move(d), [weak, attempt, indexes](std::vector<RecipientOutcome> out) {
    auto self = weak.lock();
    if (!self) return;
    for (std::size_t k = 0; k < indexes.size(); ++k) {
      attempt->outcomes[indexes[k]] =
          k < out.size() ? std::move(out[k])
                         : outcome(Status::TempFail, "451 4.3.0 no outcome from the transport");
    }
    self->part_done(attempt);
  });
}

void DeliveryScheduler::part_done(const std::shared_ptr<Attempt>& attempt) {
  if (--attempt->parts == 0) finish_attempt(attempt);
}

}  // namespace postern::node::queue
