// The end of a delivery attempt (DeliveryScheduler, continued): recipients'
// new states, the DSN, the envelope written back or the files removed.
#include <fmt/format.h>

#include <cctype>
#include <ctime>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "backend/queue/delivery_scheduler.hpp"
#include "backend/queue/dsn.hpp"
#include "backend/queue/envelope_codec.hpp"
#include "backend/queue/queue_id.hpp"
#include "core/log.hpp"

namespace postern::node::queue {

using Status = RecipientOutcome::Status;

struct DsnJob {
  DsnReport report;
  std::vector<std::size_t> failed;  // recipient indexes reported as failed
  Recipient to;                     // the original sender, routed
};

namespace {

bool all_done(const Envelope& envelope) {
  for (const Recipient& r : envelope.recipients) {
    if (r.state == RecipientState::Pending) return false;
  }
  return true;
}

// The original message for the DSN: whole unless RET=HDRS asks for the header
// only or it is too big to send back whole (Postfix does the same past a
// limit). BLOCKING.
constexpr std::uint64_t kMaxReturnedBytes = 10 * 1024 * 1024;

std::string read_original(const std::string& path, std::uint64_t size, bool& headers_only) {
  headers_only = headers_only || size > kMaxReturnedBytes;
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  std::uint64_t want = headers_only ? std::min<std::uint64_t>(size, 256 * 1024) : size;
  text.resize(want);
  std::size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd, text.data() + got, want - got, static_cast<off_t>(got));
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  if (headers_only) text = std::string(message_header(text));
  return text;
}

// A DSN whose recipients go back to Pending: it could not be sent now, so
// the failure is reported at a later attempt instead of never.
void reopen(Envelope& envelope, const DsnJob& job) {
  for (std::size_t i : job.failed) envelope.recipients[i].state = RecipientState::Pending;
}

}  // namespace

void DeliveryScheduler::finish_attempt(const std::shared_ptr<Attempt>& attempt) {
  auto item = attempt->item;
  Envelope env = item->m.envelope;
  std::int64_t now = now_seconds();
  if (attempt->gone) {
    core::log_info("queue_removed").kv("queue_id", item->m.id).kv("reason", "deleted");
    return attempt_finished(item, std::move(env), true, false);
  }
  bool all_busy = true;
  for (std::size_t i : attempt->indexes) all_busy = all_busy && attempt->busy[i];
  if (!all_busy) ++env.attempts;
  bool expired = now - env.arrival >= static_cast<std::int64_t>(config_.max_lifetime.count());

  auto job = std::make_shared<DsnJob>();
  bool any_failed = false;
  for (std::size_t i : attempt->indexes) {
    if (attempt->busy[i]) continue;  // not tried: stays pending, no attempt counted
    Recipient& r = env.recipients[i];
    const RecipientOutcome& o = *attempt->outcomes[i];
    r.last_reply = o.reply;
    r.remote_mta = o.remote_mta;
    std::optional<DsnAction> report;
    if (o.status == Status::Delivered) {
      r.state = RecipientState::Delivered;
      // A remote server got NOTIFY passed on and reports success itself.
      if (r.route == Route::Local && wants_dsn(r, DsnAction::Delivered))
        report = DsnAction::Delivered;
    } else if (o.status == Status::PermFail || expired) {
      r.state = RecipientState::Failed;
      any_failed = true;
      if (wants_dsn(r, DsnAction::Failed)) {
        report = DsnAction::Failed;
        job->failed.push_back(i);
      }
    }
    if (report) job->report.entries.push_back(DsnReport::Entry{r, *report});
    std::string_view result = o.status == Status::Delivered  ? "delivered"
                              : o.status == Status::PermFail ? "failed"
                              : expired                      ? "expired"
                                                             : "deferred";
    core::log_info("queue_delivery")
        .kv("queue_id", item->m.id)
        .kv("to", r.address)
        .kv("route", route_name(r.route))
        .kv("result", result)
        .kv("reply", o.reply)
        .kv("remote_mta", o.remote_mta)
        .kv("attempts", env.attempts)
        .kv("delay", now - env.arrival);
    deps_.metrics
        .counter("postern_queue_deliveries_total", "Delivery attempts per recipient",
                 {{"route", std::string(route_name(r.route))}, {"result", std::string(result)}})
        .inc();
  }
  env.next_attempt = all_busy ? now + 1 : now + config_.retry_delay(env.attempts).count();

  if (env.sender.empty() || env.is_bounce) {
    // Never a DSN to the null sender; a DSN that fails is dropped, never bounced.
    if (any_failed) {
      core::log_warn("queue_bounce_dropped")
          .kv("queue_id", item->m.id)
          .kv("reason", env.is_bounce ? "message is a bounce" : "null sender");
    }
  } else if (!job->report.entries.empty()) {
    return route_bounce(item, std::move(env), std::move(job));
  }
  write_back(item, std::move(env), nullptr);
}

void DeliveryScheduler::route_bounce(const std::shared_ptr<Item>& item, Envelope envelope,
                                     std::shared_ptr<DsnJob> job) {
  std::string sender = envelope.sender;
  std::string domain;
  if (auto at = sender.rfind('@'); at != std::string::npos) domain = sender.substr(at + 1);
  for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  AddressRoute route;
  route.status = AddressRoute::Status::Found;
  route.recipient.address = sender;
  if (deps_.local_domains.count(domain) == 0) {
    route.recipient.route = Route::Mx;
  } else if (!deps_.route_address) {
    route.recipient.route = Route::Local;
  } else {
    // The directory look-up answers on another thread; back to the loop.
    std::weak_ptr<DeliveryScheduler> weak = weak_from_this();
    auto link = link_;
    deps_.route_address(sender, [weak, link, item, envelope = std::move(envelope),
                                 job](AddressRoute answer) mutable {
      link->post(
          [weak, item, envelope = std::move(envelope), job, answer = std::move(answer)]() mutable {
            if (auto self = weak.lock())
              self->bounce_routed(item, std::move(envelope), std::move(job), std::move(answer));
          });
    });
    return;
  }
  bounce_routed(item, std::move(envelope), std::move(job), std::move(route));
}

void DeliveryScheduler::bounce_routed(const std::shared_ptr<Item>& item, Envelope envelope,
                                      std::shared_ptr<DsnJob> job, AddressRoute route) {
  switch (route.status) {
    case AddressRoute::Status::Found:
      job->to = std::move(route.recipient);
      job->to.state = RecipientState::Pending;
      job->to.notify = "NEVER";
      return write_back(item, std::move(envelope), std::move(job));
    case AddressRoute::Status::NotFound:
      core::log_warn("queue_bounce_dropped")
          .kv("queue_id", item->m.id)
          .kv("reason", "sender unknown")
          .kv("sender", envelope.sender)
          .kv("detail", route.detail);
      return write_back(item, std::move(envelope), nullptr);
    case AddressRoute::Status::TempFail:
      core::log_warn("queue_bounce_deferred")
          .kv("queue_id", item->m.id)
          .kv("sender", envelope.sender)
          .kv("detail", route.detail);
      reopen(envelope, *job);
      return write_back(item, std::move(envelope), nullptr);
  }
}

void DeliveryScheduler::write_back(const std::shared_ptr<Item>& item, Envelope envelope,
                                   std::shared_ptr<DsnJob> job) {
  if (job) {
    job->report.reporting_mta = deps_.hostname;
    job->report.postmaster = deps_.postmaster;
    job->report.queue_id = item->m.id;
    job->report.envelope = envelope;
    job->report.now = now_seconds();
    job->report.headers_only = envelope.ret == "HDRS";
  }
  std::weak_ptr<DeliveryScheduler> weak = weak_from_this();
  auto link = link_;
  const QueueSpool& spool = spool_;
  EnqueueFn& enqueue = enqueue_;
  std::string id = item->m.id;
  std::uint64_t size = item->m.size;
  auto work = [weak, link, item, envelope, job, &spool, &enqueue, id, size]() mutable {
    bool bounced = false;
    if (job) {
      job->report.boundary = make_queue_id() + "/" + job->report.reporting_mta;
      job->report.original = read_original(spool.msg_path(id), size, job->report.headers_only);
      Envelope dsn;
      dsn.recipients.push_back(job->to);
      dsn.is_bounce = true;
      auto queued = enqueue(compose_dsn(job->report), std::move(dsn));
      if (queued) {
        bounced = true;
        core::log_info("queue_bounced")
            .kv("queue_id", id)
            .kv("dsn_id", *queued)
            .kv("to", job->to.address)
            .kv("recipients", job->report.entries.size());
      } else {
        core::log_error("queue_bounce_failed").kv("queue_id", id).kv("error", queued.error());
        reopen(envelope, *job);
      }
    }
    bool removed = false;
    if (all_done(envelope)) {
      removed = spool.remove(id);
    } else {
      // The new envelope's data is synced before it replaces the old one
      // (rewrite_envelope), the rename is not: if a crash loses the rename,
      // the older envelope says these recipients are still pending and they
      // are delivered again, a duplicate and never a loss.
      auto rewritten = spool.rewrite_envelope(id, envelope);
      if (!rewritten) {
        core::log_error("queue_envelope_write_failed")
            .kv("queue_id", id)
            .kv("error", rewritten.error());
      } else if (!*rewritten) {
        removed = true;  // deleted by posternctl meanwhile
        core::log_info("queue_removed").kv("queue_id", id).kv("reason", "deleted");
      }
    }
    link->post([weak, item, envelope = std::move(envelope), removed, bounced]() mutable {
      if (auto self = weak.lock())
        self->attempt_finished(item, std::move(envelope), removed, bounced);
    });
  };
  if (!link_->submit(deps_.workers, work)) {
    // The pool is full: the item stays in flight, the timer tries again.
    retry_.push_back([weak, item, envelope = std::move(envelope), job]() mutable {
      if (auto self = weak.lock()) self->write_back(item, std::move(envelope), std::move(job));
    });
    arm_timer();
  }
}

void DeliveryScheduler::attempt_finished(const std::shared_ptr<Item>& item, Envelope envelope,
                                         bool removed, bool bounced) {
  if (bounced) bounces_.inc();
  bool done = all_done(envelope);
  item->m.envelope = std::move(envelope);
  item->in_flight = false;
  --in_flight_;
  if (removed || done) {
    if (done) core::log_info("queue_removed").kv("queue_id", item->m.id).kv("reason", "done");
    items_.erase(item->m.id);
    --size_;
    update_size();
  } else {
    requeue_later(item, item->flush ? 0 : item->m.envelope.next_attempt);
  }
  item->flush = false;
  pump();
}

}  // namespace postern::node::queue
