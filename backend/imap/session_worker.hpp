// Session::on_worker, for the session_*.cpp files: runs store work on the
// node's worker pool and hands the result back on the session's loop, unless
// the session is gone by then.
#pragma once

#include <chrono>

#include "backend/imap/imap_service.hpp"
#include "backend/imap/session.hpp"

namespace postern::node::imap {

template <class Job, class Done>
void Session::on_worker(const std::string& tag, Job job, Done done) {
  std::weak_ptr<Session> weak = weak_from_this();
  const auto started = std::chrono::steady_clock::now();
  const ImapMetrics* metrics = &service_.metrics();
  const std::uint64_t epoch = epoch_;
  bool queued =
      node_.workers.run(std::move(job), loop_,
                        [weak, started, metrics, epoch, done = std::move(done)](auto r) mutable {
                          auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - started);
                          metrics->store_operations.inc();
                          metrics->store_microseconds.inc(us.count());
                          auto self = weak.lock();
                          // A command waits for its job, so none spans an
                          // UNAUTHENTICATE; were one to, it is dropped.
                          if (!self || self->closed_ || self->epoch_ != epoch) return;
                          done(std::move(r));
                        });
  if (!queued) complete(tag, "NO", "[UNAVAILABLE] Server busy, try again later.");
}

}  // namespace postern::node::imap
