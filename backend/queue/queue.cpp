#include "backend/queue/queue.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <future>
#include <mutex>
#include <stdexcept>

#include "backend/delivery/message_spool.hpp"
#include "backend/queue/delivery_scheduler.hpp"
#include "backend/queue/group_sync.hpp"
#include "backend/queue/local_transport.hpp"
#include "backend/queue/queue_id.hpp"
#include "backend/queue/queue_spool.hpp"
#include "core/log.hpp"

namespace postern::node::queue {

namespace {

class SpoolIncoming final : public Incoming {
 public:
  SpoolIncoming(delivery::MessageSpool spool, std::string id)
      : spool_(std::move(spool)), id_(is_queue_id(id) ? std::move(id) : make_queue_id()) {}
  tl::expected<void, std::string> write(std::string_view bytes) override {
    return spool_.write(bytes);
  }
  std::uint64_t size() const override { return spool_.size(); }
  const std::string& id() const override { return id_; }
  delivery::MessageSpool& spool() { return spool_; }

 private:
  delivery::MessageSpool spool_;
  std::string id_;
};

}  // namespace

struct Queue::Impl {
  Impl(const QueueConfig& c, QueueDeps d)
      : config(c), deps(std::move(d)), spool(c.path), sync(c.path, deps.sync) {}

  // Runs `task` on the loop and waits for it (start/stop only).
  void run_on_loop(const std::function<void()>& task) {
    std::promise<void> done;
    thread->loop().post([&] {
      task();
      done.set_value();
    });
    done.get_future().wait();
  }

  // Hands a committed message to the scheduler (any thread). Before start()
  // and after stop() nobody takes it: it waits on disk for the next start.
  void hand_over(QueuedMessage message) {
    std::lock_guard lock(mutex);
    if (!link) return;
    ++size;  // the scheduler's add() takes it from here
    std::weak_ptr<DeliveryScheduler> weak = scheduler;
    link->post([weak, message = std::move(message)]() mutable {
      if (auto s = weak.lock()) s->add(std::move(message));
    });
  }

  const QueueConfig& config;
  QueueDeps deps;
  QueueSpool spool;
  GroupSync sync;
  std::atomic<std::size_t> size{0};
  std::mutex mutex;  // guards link and scheduler (commit and flush read them)
  std::shared_ptr<LoopLink> link;
  std::shared_ptr<DeliveryScheduler> scheduler;
  std::unique_ptr<core::LoopThread> thread;
};

Queue::Queue(QueueConfig config, QueueDeps deps)
    : config_(std::move(config)), impl_(std::make_unique<Impl>(config_, std::move(deps))) {}

Queue::~Queue() {
  stop();
}

void Queue::start() {
  if (impl_->thread) return;
  if (auto prepared = impl_->spool.prepare(); !prepared)
    throw std::runtime_error(fmt::format("queue: {}", prepared.error()));
  auto found = impl_->spool.scan(true);
  if (!found) throw std::runtime_error(fmt::format("queue: {}", found.error()));

  impl_->thread = std::make_unique<core::LoopThread>();
  auto link = std::make_shared<LoopLink>(impl_->thread->loop());
  EnqueueFn enqueue = [this](const std::string& bytes,
                             Envelope envelope) -> tl::expected<std::string, std::string> {
    auto incoming = receive();
    if (!incoming) return tl::unexpected(incoming.error());
    if (auto w = (*incoming)->write(bytes); !w) return tl::unexpected(w.error());
    return commit(std::move(*incoming), std::move(envelope));
  };
  impl_->size = found->size();
  impl_->run_on_loop([&] {
    auto scheduler =
        std::make_shared<DeliveryScheduler>(impl_->thread->loop(), link, config_, impl_->deps,
                                            impl_->spool, std::move(enqueue), impl_->size);
    for (auto& m : *found) {
      scheduler->add(QueuedMessage{std::move(m.id), std::move(m.envelope), m.size, std::nullopt});
    }
    std::lock_guard lock(impl_->mutex);
    impl_->scheduler = std::move(scheduler);
    impl_->link = link;
  });
  core::log_info("queue_started").kv("path", config_.path).kv("messages", found->size());
}

void Queue::stop() {
  if (!impl_->thread) return;
  impl_->run_on_loop([&] {
    if (impl_->scheduler) impl_->scheduler->shutdown();
  });
  std::shared_ptr<LoopLink> link;
  {
    std::lock_guard lock(impl_->mutex);
    link = std::move(impl_->link);
  }
  link->close();
  impl_->thread.reset();  // stops and joins the loop
  // Worker jobs still running use the scheduler's members; let them end.
  link->wait_idle();
  std::lock_guard lock(impl_->mutex);
  impl_->scheduler.reset();
  core::log_info("queue_stopped").kv("path", config_.path);
}

tl::expected<std::unique_ptr<Incoming>, std::string> Queue::receive(std::string id) {
  auto spool = delivery::MessageSpool::create(impl_->spool.incoming_dir());
  if (!spool) return tl::unexpected(spool.error());
  return std::make_unique<SpoolIncoming>(std::move(*spool), std::move(id));
}

tl::expected<std::string, std::string> Queue::commit(std::unique_ptr<Incoming> message,
                                                     Envelope envelope) {
  auto* incoming = dynamic_cast<SpoolIncoming*>(message.get());
  if (incoming == nullptr) return tl::unexpected(std::string("not an Incoming of this queue"));
  if (envelope.recipients.empty()) return tl::unexpected(std::string("no recipients"));
  // The group sync below makes the file durable, with everyone else's.
  auto received = incoming->spool().finish(delivery::MessageSpool::Durability::ByStore);
  if (!received) return tl::unexpected(received.error());
  return commit_received(incoming->id(), std::move(*received), std::move(envelope));
}

tl::expected<std::string, std::string> Queue::commit_received(const std::string& wanted_id,
                                                              store::NewMessage received,
                                                              Envelope envelope) {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  envelope.arrival = now;
  envelope.next_attempt = now;
  envelope.attempts = 0;
  for (Recipient& r : envelope.recipients) {
    r.state = RecipientState::Pending;
    r.last_reply.clear();
    r.remote_mta.clear();
  }
  const QueueSpool& spool = impl_->spool;
  std::string id;
  for (int tries = 0; id.empty(); ++tries) {
    std::string candidate = tries == 0 ? wanted_id : make_queue_id();
    auto adopted = spool.adopt_message(received.source_path, candidate);
    if (!adopted || (!*adopted && tries == 8)) {
      ::unlink(received.source_path.c_str());
      return tl::unexpected(adopted ? std::string("no free queue id") : adopted.error());
    }
    if (*adopted) id = candidate;
  }
  if (auto created = spool.create_envelope(id, envelope); !created) {
    ::unlink(spool.msg_path(id).c_str());
    return tl::unexpected(created.error());
  }
  if (auto synced = impl_->sync.sync({spool.msg_path(id), spool.env_path(id)}); !synced) {
    // Not acknowledged, so not kept: the client will send it again.
    spool.remove(id);
    core::log_error("queue_commit_failed").kv("queue_id", id).kv("error", synced.error());
    return tl::unexpected(synced.error());
  }
  core::log_info("queue_queued")
      .kv("queue_id", id)
      .kv("from", envelope.sender)
      .kv("recipients", envelope.recipients.size())
      .kv("size", received.size)
      .kv("bounce", envelope.is_bounce);
  impl_->hand_over(QueuedMessage{id, std::move(envelope), received.size, std::move(received.meta)});
  return id;
}

tl::expected<std::string, std::string> Queue::accept(std::unique_ptr<Incoming> message,
                                                     Envelope envelope) {
  auto* incoming = dynamic_cast<SpoolIncoming*>(message.get());
  if (incoming == nullptr) return tl::unexpected(std::string("not an Incoming of this queue"));
  const auto direct = [](const Recipient& r) {
    return r.route == Route::Local && r.notify.find("SUCCESS") == std::string::npos &&
           r.notify.find("success") == std::string::npos;
  };
  if (std::none_of(envelope.recipients.begin(), envelope.recipients.end(), direct))
    return commit(std::move(message), std::move(envelope));

  const std::string id = incoming->id();
  // The store makes the file durable with its own group sync.
  auto received = incoming->spool().finish(delivery::MessageSpool::Durability::ByStore);
  if (!received) return tl::unexpected(received.error());
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  std::vector<Recipient> rest;
  for (Recipient& r : envelope.recipients) {
    if (!direct(r)) {
      rest.push_back(std::move(r));
      continue;
    }
    LocalResult result = deliver_to_store(
        impl_->deps.store, LocalJob{r, received->source_path, received->size, received->meta, now});
    const bool delivered = result.outcome.status == RecipientOutcome::Status::Delivered;
    core::log_info("queue_delivery")
        .kv("queue_id", id)
        .kv("to", r.address)
        .kv("route", "local")
        .kv("result", delivered ? "delivered" : "deferred")
        .kv("reply", result.outcome.reply)
        .kv("remote_mta", "")
        .kv("attempts", 1)
        .kv("delay", 0);
    impl_->deps.metrics
        .counter("postern_queue_deliveries_total", "Delivery attempts per recipient",
                 {{"route", "local"}, {"result", delivered ? "delivered" : "deferred"}})
        .inc();
    // Not stored now (busy, quota...): the queue tries again and bounces if it must.
    if (!delivered) rest.push_back(std::move(r));
  }
  if (rest.empty()) {
    // Every account has its own link; the spool's name goes.
    ::unlink(received->source_path.c_str());
    return id;
  }
  envelope.recipients = std::move(rest);
  return commit_received(id, std::move(*received), std::move(envelope));
}

void Queue::flush() {
  std::lock_guard lock(impl_->mutex);
  if (!impl_->link) return;
  std::weak_ptr<DeliveryScheduler> weak = impl_->scheduler;
  impl_->link->post([weak] {
    if (auto s = weak.lock()) s->flush();
  });
  core::log_info("queue_flush");
}

std::size_t Queue::size() const {
  return impl_->size.load();
}

tl::expected<std::vector<QueueEntry>, std::string> list_queue(const std::string& path) {
  QueueSpool spool(path);
  if (::access(spool.msg_dir().c_str(), F_OK) != 0) return std::vector<QueueEntry>{};
  auto found = spool.scan(false);
  if (!found) return tl::unexpected(found.error());
  std::vector<QueueEntry> out;
  for (auto& m : *found) out.push_back(QueueEntry{m.id, std::move(m.envelope), m.size});
  return out;
}

tl::expected<bool, std::string> delete_queued(const std::string& path, const std::string& id) {
  if (!is_queue_id(id))
    return tl::unexpected(fmt::format("\"{}\" is not a queue id (12-20 of 0-9 A-F)", id));
  return QueueSpool(path).remove(id);
}

}  // namespace postern::node::queue
