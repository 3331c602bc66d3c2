#include "mapping/ldap_pool.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <stdexcept>

#include "core/log.hpp"

namespace postern::mapping {

namespace {

// While no server answers, a worker tries again at most this often, and fails
// requests at once in between, so clients get a quick temporary failure.
constexpr std::chrono::milliseconds kRetryInterval{1000};

// How far past max_pending a worker's queue may grow before submits are
// refused: a bounded backlog, not an unbounded one.
constexpr std::size_t kQueueFactor = 4;

}  // namespace

LdapPool::LdapPool(const LdapConfig& config, LdapConnection::Role role, std::size_t size,
                   std::size_t max_pending, std::string name)
    : config_(config),
      role_(role),
      max_pending_(std::max<std::size_t>(1, max_pending)),
      name_(std::move(name)) {
  // libldap writes to sockets the server may have closed; that must be an
  // error code, not a signal that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  for (std::size_t i = 0; i < std::max<std::size_t>(1, size); ++i) {
    auto w = std::make_unique<Worker>();
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd < 0) throw std::runtime_error("eventfd failed");
    workers_.push_back(std::move(w));
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker& w = *workers_[i];
    w.thread = std::thread([this, &w, i] { run(w, i); });
  }
}

LdapPool::~LdapPool() {
  stop();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
    close(w->wake_fd);
  }
}

void LdapPool::stop() {
  stopping_.store(true);
  for (auto& w : workers_) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = write(w->wake_fd, &one, sizeof one);
  }
}

void LdapPool::fail(std::unique_ptr<LdapRequest> r, LdapOutcome outcome, const char* why) {
  r->done(LdapReply{outcome, -1, why, {}});
}

void LdapPool::submit(std::unique_ptr<LdapRequest> request) {
  if (stopping_.load()) return;
  // Least loaded worker, preferring those whose server answers.
  Worker* best = nullptr;
  for (auto& w : workers_) {
    if (best == nullptr || (w->up.load() && !best->up.load()) ||
        (w->up.load() == best->up.load() && w->load.load() < best->load.load())) {
      best = w.get();
    }
  }
  if (best->load.load() >= max_pending_ * kQueueFactor) {
    fail(std::move(request), LdapOutcome::Overloaded, "too many directory requests queued");
    return;
  }
  best->load.fetch_add(1);
  {
    std::lock_guard lock(best->mutex);
    best->queue.push_back(std::move(request));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = write(best->wake_fd, &one, sizeof one);
}

void LdapPool::run(Worker& w, std::size_t index) {
  LdapConnection conn(config_, role_, name_ + "-" + std::to_string(index));
  auto retry_at = LdapClock::time_point::min();
  // Auth connections bind as users: one bind at a time (RFC 4511 4.2.1).
  const std::size_t capacity = role_ == LdapConnection::Role::Auth ? 1 : max_pending_;
  std::deque<std::unique_ptr<LdapRequest>> ready;  // taken from the queue, not yet sent

  while (!stopping_.load()) {
    auto now = LdapClock::now();
    {
      std::lock_guard lock(w.mutex);
      while (!w.queue.empty()) {
        ready.push_back(std::move(w.queue.front()));
        w.queue.pop_front();
      }
    }
    // Fail-back: once connected to a later URI for long enough, stop sending,
    // let what is in flight finish, then try the first URI again.
    bool draining = conn.connected() && conn.server_index() > 0 &&
                    now - conn.connected_since() >= config_.failback_interval;
    if (draining && conn.pending() == 0) {
      conn.reconnect_to_primary();
      draining = false;
    }
    if (!ready.empty() && !conn.connected()) {
      if (now >= retry_at && conn.connect()) {
        w.up.store(true);
      } else {
        if (now >= retry_at) retry_at = now + kRetryInterval;
        w.up.store(false);
        while (!ready.empty()) {
          fail(std::move(ready.front()), LdapOutcome::Unavailable, "directory unreachable");
          ready.pop_front();
        }
      }
    }
    while (!ready.empty() && !draining && conn.connected() && conn.pending() < capacity) {
      auto r = std::move(ready.front());
      ready.pop_front();
      if (r->deadline <= now) {
        fail(std::move(r), LdapOutcome::Timeout, "no answer from the directory in time");
      } else {
        conn.send(std::move(r));
      }
    }

    auto wait_until = std::min(conn.next_deadline(), now + std::chrono::seconds(1));
    if (!ready.empty() && !conn.connected()) wait_until = std::min(wait_until, retry_at);
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait_until - now).count();
    pollfd fds[2] = {{w.wake_fd, POLLIN, 0}, {conn.descriptor(), POLLIN, 0}};
    int nfds = fds[1].fd >= 0 ? 2 : 1;
    if (poll(fds, nfds, static_cast<int>(std::clamp<long long>(wait_ms, 0, 1000))) > 0 &&
        (fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] auto n = read(w.wake_fd, &count, sizeof count);
    }
    if (conn.connected()) conn.poll_results();
    conn.expire(LdapClock::now());

    // A broken connection's searches get one more try (reconnecting, or on the
    // next server); binds and compares are not replayed.
    for (auto& r : conn.take_orphans()) {
      if (r->kind == LdapRequest::Kind::Search && !r->retried) {
        r->retried = true;
        ready.push_back(std::move(r));
      } else {
        fail(std::move(r), LdapOutcome::Unavailable, "directory connection lost");
      }
    }
    std::size_t queued = 0;
    {
      std::lock_guard lock(w.mutex);
      queued = w.queue.size();
    }
    w.load.store(queued + ready.size() + conn.pending());
  }
}

}  // namespace postern::mapping
