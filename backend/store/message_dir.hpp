// The message files of one account:
//
//   <account>/msg/<xx>/<name>   name = 32 lower-case hex digits, xx = its first two
//   <account>/tmp/<name>        cross-filesystem copies in progress (emptied at open)
//
// A name is random (128 bits) and independent of mailbox and UID: MOVE changes
// rows only, COPY hard-links the file under a new name, and a file is written
// exactly once. Reconciliation compares scan() with the index.
//
// Every method blocks on the disk. Thread-safe: methods may run concurrently
// (the only shared state is the set of shard directories known to exist).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/store/store_error.hpp"

namespace postern::node::store {

class MessageDir {
 public:
  explicit MessageDir(const std::string& account_dir);
  MessageDir(const MessageDir&) = delete;
  MessageDir& operator=(const MessageDir&) = delete;

  // Creates msg/ and tmp/ durably if missing; with `empty_tmp`, removes what
  // tmp/ holds (only safe when no other process can be copying into it: the
  // account's exclusive lock).
  StoreResult<void> prepare(bool empty_tmp);

  // A fresh file name in a random shard, or in the shard of `sibling` (so that
  // a batch needs one directory fsync). Creates the shard directory if
  // missing: durably (parent fsynced) with Sync::Each; with Sync::Later the
  // caller syncs the filesystem before it relies on the entry.
  enum class Sync : bool { Each, Later };
  StoreResult<std::string> new_name(Sync sync = Sync::Each);
  StoreResult<std::string> new_name_like(std::string_view sibling, Sync sync = Sync::Each);

  std::string path(std::string_view name) const;

  // Makes the regular file `source` (exactly `expected_size` bytes, not a
  // symlink) the message file `name`: fsync(source), then link(2), or on
  // another filesystem a kernel-side copy into tmp/, fsync, rename. The shard
  // directory is NOT synced (see sync_shards). `source` is never modified.
  // With Sync::Later nothing is fsynced (no open either when linking): the
  // caller syncs the account's filesystem afterwards.
  StoreResult<void> place(const std::string& source, std::uint64_t expected_size,
                          std::string_view name, Sync sync = Sync::Each);

  // Hard-links the existing message file `existing` as `name` (COPY).
  // NoSuchMessage if `existing` is gone (expunged meanwhile).
  StoreResult<void> link(std::string_view existing, std::string_view name);

  // fsyncs the shard directory of every name, once per shard.
  StoreResult<void> sync_shards(std::span<const std::string> names);

  // Unlinks a message file; failures other than ENOENT are logged only
  // (reconciliation removes what is left).
  void remove(std::string_view name) const;

  // Every well-formed message file name. Anything else under msg/ is logged
  // and left alone.
  StoreResult<std::vector<std::string>> scan() const;

  static bool valid_name(std::string_view name);

 private:
  StoreResult<void> ensure_shard(std::string_view shard, Sync sync);
  StoreResult<void> copy_in(int source_fd, std::uint64_t size, std::string_view name, Sync sync);

  std::string msg_dir_;
  std::string tmp_dir_;
  // Per shard: kUnknown, kExists (made with Sync::Later, entry maybe not yet
  // durable) or kDurable.
  std::array<std::atomic<std::uint8_t>, 256> shard_state_{};
};

}  // namespace postern::node::store
