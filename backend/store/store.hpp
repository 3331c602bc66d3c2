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
// shared_ptr goes. Opening different accounts proceeds in parallel; callers
// for the same account wait for one open. Other processes (or other Store
// objects) may open the same accounts at the same time: each has its own
// AccountStore and SQLite connection and sees the others' commits (see
// account_store.hpp, "SEVERAL PROCESSES"). One Store per root per process is
// still the rule for efficiency: it shares one connection per account.
#pragma once

#include <cstddef>
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

  std::shared_ptr<Slot> slot_for(const std::string& key);

  const std::string root_;
  const StoreOptions options_;
  std::mutex mutex_;  // guards slots_ and sweep_at_
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots_;
  std::size_t sweep_at_ = 64;
};

}  // namespace postern::node::store
