// The message store of a node: every account under one root directory
// (DESIGN.md section 6). Entry point of namespace postern::node::store:
//
//   store::Store store("/var/lib/postern/store");
//   auto account = store.account("alice@example.com");       // worker thread
//   auto inbox = (*account)->find_mailbox("INBOX");
//   auto added = (*account)->append(inbox->id, message);
//
// BLOCKING: account() and deliver_linked() do disk I/O (opening an account
// reconciles it) and, like every AccountStore method, must run on the node's
// worker pool, never on an event loop.
//
// THREAD-SAFETY: all methods may be called concurrently. The registry gives
// every caller asking for one account the same AccountStore (one SQLite
// connection, see account_store.hpp); the account is closed when the last
// shared_ptr goes (see LINGER). Opening different accounts proceeds in parallel; callers
// for the same account wait for one open. Other processes (or other Store
// objects) may open the same accounts at the same time: each has its own
// AccountStore and SQLite connection and sees the others' commits (see
// account_store.hpp, "SEVERAL PROCESSES"). One Store per root per process is
// still the rule for efficiency: it shares one connection per account.
//
// LINGER: opening an account (flock, reconcile, SQLite open, schema, WAL) and
// closing it (checkpoint) cost more than a login's other work, and clients log
// in again and again. So account() also keeps a strong reference of its own,
// with the time of last use: the account stays open while anyone uses it and
// for StoreOptions::linger after that, at most linger_max idle accounts (least
// recently used go first). sweep() drops the expired ones. Consequences:
//   - the Store, not its callers, closes a lingering account: in sweep(),
//     account() (pushed out by linger_max) or drop_lingering(), always outside
//     the Store's mutex, on the calling thread. A caller releasing its
//     shared_ptr on an event loop therefore never closes (blocks) there, as
//     long as linger > 0; with linger 0 the last caller closes as before;
//   - what happens once per open (reconciling, see account_store.hpp) happens
//     only when an account is opened anew, and only by a lone opener: while
//     this Store lingers on an account, other processes open it shared.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/store/account_store.hpp"
#include "backend/store/store_error.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::store {

// One recipient of a linked delivery.
struct LinkedDelivery {
  std::string address;            // canonical account address
  std::string mailbox = "INBOX";  // falls back to INBOX if missing or \Noselect
};

class Store {
 public:
  // `root` must exist when accounts are opened; nothing is touched here.
  explicit Store(std::string root, StoreOptions options = {});
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  // The account of the canonical `address`, opened (and reconciled) on first
  // use and created with its default mailboxes if new. BadArgument for an
  // address account_relative_path() refuses; Busy if another process keeps it
  // locked exclusively (reconciling) for too long.
  StoreResult<std::shared_ptr<AccountStore>> account(std::string_view address);

  // Drops the lingering accounts that nobody uses and were last used at least
  // `linger` before `now`, closing those (blocking: call it on a worker, every
  // few seconds). An account in use counts as used `now`.
  void sweep(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  // Drops every lingering account now (those nobody else holds close); the
  // Store still works afterwards. Blocking.
  void drop_lingering();
  // How many accounts the linger holds (in use or idle).
  std::size_t lingering() const;

  // Where `address`'s account lives (root/<domain>/<local>), existing or not.
  StoreResult<std::string> account_directory(std::string_view address) const;

  // Multi-recipient local delivery: links one already-durable message file
  // (message.source_path; message.source_mode is ignored and the file is left
  // in place for the caller to remove) into each recipient's mailbox: one
  // inode, one link per account when they share a filesystem, a copy
  // otherwise. Each recipient succeeds or fails on its own; results follow
  // `recipients`' order.
  std::vector<StoreResult<AppendResult>> deliver_linked(const NewMessage& message,
                                                        std::span<const LinkedDelivery> recipients);

  const std::string& root() const { return root_; }

 private:
  struct Slot {
    std::mutex mutex;  // held while the account opens
    std::weak_ptr<AccountStore> account;
  };

  // One account the linger holds open.
  struct Lingering {
    std::string key;  // as in slots_
    std::shared_ptr<AccountStore> account;
    std::chrono::steady_clock::time_point last_use;
  };
  using LingerList = std::list<Lingering>;  // most recently used first
  using Dropped = std::vector<std::shared_ptr<AccountStore>>;

  std::shared_ptr<Slot> slot_for(const std::string& key);
  // Under mutex_: `account` (of `key`) was just handed out.
  void remember(const std::string& key, const std::shared_ptr<AccountStore>& account,
                Dropped& dropped);
  // Under mutex_: moves idle accounts past linger_max, oldest first, to `dropped`.
  void trim(Dropped& dropped);
  void forget(LingerList::iterator it, Dropped& dropped);

  const std::string root_;
  const StoreOptions options_;
  mutable std::mutex mutex_;  // guards slots_, sweep_at_, linger_, linger_index_
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots_;
  std::size_t sweep_at_ = 64;
  LingerList linger_;
  std::unordered_map<std::string, LingerList::iterator> linger_index_;
};

}  // namespace postern::node::store
