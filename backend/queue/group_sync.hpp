// Group commit for the queue's files: every committer waiting at the same
// moment shares one sync, the way store::append_grouped shares one append
// batch. The first thread to arrive while no sync runs becomes the leader:
// it takes every file queued so far, syncs them and wakes their owners;
// threads arriving during that sync queue up for the next one. A lone commit
// pays one sync and no wait.
//
//   Batch:   one syncfs(2) on the queue's filesystem: data, inodes, directory
//            entries and the journal in one commit, however many messages.
//   Ordered: fsync of each file, then of each folder they are in (once per
//            folder per group), for a filesystem with busy neighbours whose
//            dirty data a syncfs would also have to write.
//
// BLOCKING (worker threads). Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/store/store_types.hpp"
#include "backend/store/unique_fd.hpp"

namespace postern::node::queue {

class GroupSync {
 public:
  // `root`: any folder on the queue's filesystem (syncfs needs a descriptor).
  GroupSync(std::string root, store::SyncMode mode);
  GroupSync(const GroupSync&) = delete;
  GroupSync& operator=(const GroupSync&) = delete;

  // Returns once `files` (and, Ordered, their folders) are durable: a sync
  // that started after this call has finished. The error names the path.
  tl::expected<void, std::string> sync(std::vector<std::string> files);

  // Syncs done so far (tests check that groups form).
  std::uint64_t syncs() const;

 private:
  struct Waiter;
  tl::expected<void, std::string> sync_all(const std::vector<Waiter*>& batch);

  const std::string root_;
  const store::SyncMode mode_;
  mutable std::mutex mutex_;
  std::condition_variable done_;
  std::vector<Waiter*> queue_;  // guarded by mutex_
  bool syncing_ = false;        // guarded by mutex_: a leader is syncing
  std::uint64_t syncs_ = 0;     // guarded by mutex_
};

}  // namespace postern::node::queue
