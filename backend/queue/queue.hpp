// The node's mail queue (DESIGN.md section 6): a durable spool of accepted
// messages and the scheduler that delivers them.
//
//   // SMTP server, on a worker thread, while DATA arrives:
//   auto incoming = queue.receive();          // a new file in <queue>/incoming
//   incoming->write(received_header); incoming->write(chunk); ...
//   auto id = queue.commit(std::move(incoming), envelope);   // durable now
//   // -> "250 2.0.0 Ok: queued as <id>"
//
// DURABILITY: commit() returns only when the message file and its envelope
// are on disk (file data and directory entries), so a node killed at any
// moment after the 250 still has the message at start-up. Concurrent commits
// are grouped: one sync for everything waiting (node.store_sync "batch": one
// syncfs; "ordered": fsync of each file and of the directory), the way
// store::append_grouped groups appends.
//
// DELIVERY: a committed message is handed to the scheduler at once (no
// rescan). Per recipient: Route::Local goes into the store (one file linked
// into several accounts), Route::Node and Route::Mx to the RemoteTransport.
// Temporary failures are retried on `retry_schedule`; past `max_lifetime`, or
// on a permanent failure, the sender gets a DSN (RFC 3464) unless the sender
// is null or the message is itself a DSN. When every recipient is done the
// files are removed. A crash between a delivery and the removal delivers
// again after restart: a duplicate, never a loss.
//
// THREADING: receive()/commit() are BLOCKING and thread-safe (worker pool);
// call start() first (it creates the folders). start()/stop() from the
// node's main thread. The scheduler runs on a loop of its own (LoopThread)
// and uses the node's WorkerPool for disk work (store appends, envelope
// rewrites, DSNs); stop() waits for those jobs.
//
// Files and their crash rules: queue_spool.hpp. The scheduler:
// delivery_scheduler.hpp. A message committed in this run keeps the MIME
// meta MessageSpool computed while it was written, so local delivery never
// parses it again; one recovered at start-up is parsed once, on a worker,
// before its first local delivery (not in start(), which stays quick).
#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/queue/envelope.hpp"
#include "backend/queue/queue_config.hpp"
#include "backend/queue/remote_transport.hpp"
#include "backend/store/store.hpp"
#include "core/event_loop.hpp"
#include "core/metrics.hpp"
#include "core/net_address.hpp"
#include "core/worker_pool.hpp"

namespace postern::node::queue {

// One message being received. Not thread-safe; BLOCKING.
class Incoming {
 public:
  virtual ~Incoming() = default;  // an uncommitted file is removed
  // Appends bytes of the message (CRLF line ends; bare LF become CRLF).
  virtual tl::expected<void, std::string> write(std::string_view bytes) = 0;
  virtual std::uint64_t size() const = 0;
  // The id commit() will give this message, known from the start so that a
  // Received header can name it (RFC 5321 4.4 "id"). Another is chosen only
  // if that name is taken in the spool, which unique ids make a "never".
  virtual const std::string& id() const = 0;
};

// What posternctl queue list shows.
struct QueueEntry {
  std::string id;
  Envelope envelope;
  std::uint64_t size = 0;
};

// The answer of QueueDeps::route_address.
struct AddressRoute {
  enum class Status { Found, NotFound, TempFail };
  Status status = Status::TempFail;
  // Found: address (canonical), route (Local or Node) and node set.
  Recipient recipient;
  std::string detail;  // why not, for the log
};

struct QueueDeps {
  store::Store& store;
  store::SyncMode sync;
  core::WorkerPool& workers;
  core::MetricsRegistry& metrics;
  std::string hostname;    // this node's host name: DSN Reporting-MTA, Received
  std::string postmaster;  // From: of DSNs, e.g. "postmaster@example.com"
  // Another node's SMTP listener, by node name (NodeConfig "cluster").
  std::map<std::string, core::Endpoint> nodes;
  // Makes the transport for Route::Node and Route::Mx on the queue's loop.
  std::function<std::unique_ptr<RemoteTransport>(core::EventLoop&)> make_transport;
  // Routing a DSN to the original sender. A sender whose domain (lower case)
  // is not in `local_domains` goes out by MX. One in them is looked up with
  // `route_address`, as RCPT TO would be: it must not block, and calls `done`
  // exactly once, on any thread. Found: the DSN is queued to that route;
  // NotFound: the DSN is dropped (logged); TempFail: the failed recipients
  // stay queued and the DSN is tried again at the next attempt. Without
  // `route_address`, a local sender is taken as Route::Local, as given.
  std::set<std::string> local_domains;
  std::function<void(const std::string& address, std::function<void(AddressRoute)> done)>
      route_address;
};

class Queue {
 public:
  Queue(QueueConfig config, QueueDeps deps);
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;
  ~Queue();  // stop()s

  // Creates the folders if missing, recovers every message left by an earlier
  // run (an incoming file never committed is removed) and starts delivering.
  // Throws std::runtime_error naming the path when the folder is unusable.
  void start();
  // Stops scheduling; deliveries under way finish or are abandoned (their
  // messages stay queued). Returns when the queue's loop has stopped.
  void stop();

  // `id`: the message's queue id, when the caller picked it already
  // (make_queue_id(), queue_id.hpp) to name it in a header; "" for a new one.
  tl::expected<std::unique_ptr<Incoming>, std::string> receive(std::string id = {});
  // Durable when it returns; the id is what the 250 reply reports.
  tl::expected<std::string, std::string> commit(std::unique_ptr<Incoming> message,
                                                Envelope envelope);

  // What the SMTP server calls at the end of DATA: the recipients of this
  // node (Route::Local, NOTIFY without SUCCESS) are stored at once, the
  // message file linked into each account with the group commit of
  // store::append_grouped, and only what remains (other routes, a local
  // recipient the store could not take now) is committed to the queue. For
  // mail to local users (most of a node's mail) that saves the queue's files
  // and their removal, and the message is in the mailbox before the 250.
  // Durable when it returns, like commit(); the id names the message in logs
  // either way. BLOCKING.
  tl::expected<std::string, std::string> accept(std::unique_ptr<Incoming> message,
                                                Envelope envelope);

  // Retries every deferred message now (posternctl queue flush, through the
  // admin listener's POST /queue/flush); one being delivered is retried as
  // soon as that attempt ends, if it is still pending. Thread-safe.
  void flush();
  std::size_t size() const;  // messages queued. Thread-safe.

  const QueueConfig& config() const { return config_; }

 private:
  // commit() after the spool is finished: names the file `wanted_id` (or
  // another id if taken), writes the envelope, syncs, hands it over.
  tl::expected<std::string, std::string> commit_received(const std::string& wanted_id,
                                                         store::NewMessage received,
                                                         Envelope envelope);
  struct Impl;
  QueueConfig config_;
  std::unique_ptr<Impl> impl_;
};

// For posternctl, on a queue folder (the node may be running): BLOCKING.
// Messages in id (arrival) order; one being committed or removed right now is
// left out.
tl::expected<std::vector<QueueEntry>, std::string> list_queue(const std::string& path);
// Removes one message. false when no such id. An id that is not a queue id
// (queue_id.hpp: is_queue_id) is an error, never part of a path. A running
// node notices at the message's next attempt (its file is gone) and drops it;
// an attempt already under way may still deliver it.
tl::expected<bool, std::string> delete_queued(const std::string& path, const std::string& id);

}  // namespace postern::node::queue
