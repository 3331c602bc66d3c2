// Tells the sessions that have a mailbox selected that it changed, so they
// fetch the changes (store::AccountStore::changes_since) and send EXISTS,
// EXPUNGE and FETCH FLAGS to their clients (RFC 3501 section 7).
//
// The hub carries no data, only "look again": the store is the truth, and a
// session that misses a poke still catches up at its next NOOP, IDLE poll or
// SELECT. Changes made by another process (posternctl deliver) reach sessions
// through those polls, not through the hub.
//
// THREAD-SAFETY: every method may be called from any thread. Watchers are
// called without the hub's lock held and must only post to their own loop.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/store/store_types.hpp"

namespace postern::node::imap {

class MailboxWatcher {
 public:
  virtual ~MailboxWatcher() = default;
  // Something changed in the watched mailbox. Called on any thread.
  virtual void mailbox_changed() = 0;
};

class MailboxHub {
 public:
  // Registers `watcher` for (account, mailbox) until the returned handle is
  // destroyed.
  std::shared_ptr<void> watch(const std::string& account, store::MailboxId mailbox,
                              std::weak_ptr<MailboxWatcher> watcher);
  // Pokes every watcher of (account, mailbox) except `origin` (the session
  // that made the change and already knows).
  void changed(const std::string& account, store::MailboxId mailbox,
               const MailboxWatcher* origin = nullptr);

 private:
  struct Entry {
    std::uint64_t id;
    std::weak_ptr<MailboxWatcher> watcher;
  };
  void unwatch(const std::string& key, std::uint64_t id);
  static std::string key_of(const std::string& account, store::MailboxId mailbox);

  std::mutex mutex_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::string, std::vector<Entry>> watchers_;  // guarded by mutex_
};

}  // namespace postern::node::imap
