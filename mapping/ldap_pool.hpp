// A bounded pool of directory connections, each on its own thread.
//
// submit() hands a request to the least-loaded worker; the worker keeps up to
// `max_pending` requests in flight on its connection (pipelining), connects
// lazily, fails over through the URI list, fails back to the first URI every
// `failback_interval`, and answers quickly with Unavailable while no server can
// be reached (it retries the servers at most once a second meanwhile).
//
// Requests' `done` callbacks run on worker threads. Destroying the pool stops
// and joins the workers; requests still queued or pending are dropped without
// their callbacks being run.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mapping/ldap_connection.hpp"

namespace postern::mapping {

class LdapPool {
 public:
  LdapPool(const LdapConfig& config, LdapConnection::Role role, std::size_t size,
           std::size_t max_pending, std::string name);
  LdapPool(const LdapPool&) = delete;
  LdapPool& operator=(const LdapPool&) = delete;
  ~LdapPool();

  // Thread-safe. When the pool is overloaded (every queue full) the request is
  // answered at once, on the calling thread, with LdapOutcome::Overloaded.
  void submit(std::unique_ptr<LdapRequest> request);
  // Stops accepting requests; later submits are dropped. Thread-safe.
  void stop();

 private:
  struct Worker {
    std::mutex mutex;
    std::deque<std::unique_ptr<LdapRequest>> queue;  // guarded by mutex
    std::atomic<std::size_t> load{0};                // queued + in flight, for dispatch
    std::atomic<bool> up{true};                      // false while no server answers
    int wake_fd = -1;                                // eventfd
    std::thread thread;
  };

  void run(Worker& w, std::size_t index);
  void fail(std::unique_ptr<LdapRequest> r, LdapOutcome outcome, const char* why);

  const LdapConfig& config_;
  LdapConnection::Role role_;
  std::size_t max_pending_;
  std::string name_;
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace postern::mapping
