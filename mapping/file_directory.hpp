// The file source of the mapping layer (DESIGN.md section 4): a users.map file
// (format in mapping/file_map.hpp) that reloads itself when it changes.
//
// Threading: follows the Directory contract (mapping/directory.hpp). lookup()
// and is_member() answer from the current map at once, through reply.post().
// authenticate() runs crypt on a private worker thread, never on the caller's
// loop, and posts the answer to `reply`.
//
// Reloads: a private loop thread stat()s the file every reload_interval; when
// its inode, size or mtime change it reads and parses it there and swaps the new
// map in atomically. A file that cannot be read or has any error is rejected as
// a whole: the previous map stays, and each error is logged as
//   event=file_map_rejected file=PATH line=N reason=...
// A good file logs event=file_map_loaded file=PATH entries=N.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/event_loop.hpp"
#include "mapping/directory.hpp"
#include "mapping/file_map.hpp"
#include "mapping/mapping_config.hpp"

namespace postern::mapping {

class FileDirectory final : public Directory {
 public:
  // Reads and parses config.path now. Throws core::ConfigError (key
  // "directory.file.path") if it cannot be read or has errors; the message holds
  // the first error as "PATH:LINE: reason" and how many there are.
  FileDirectory(FileSourceConfig config, std::string primary_domain);
  FileDirectory(const FileDirectory&) = delete;
  FileDirectory& operator=(const FileDirectory&) = delete;
  // Stops the watcher and the crypt worker; callbacks of authentications still
  // pending are dropped.
  ~FileDirectory() override;

  // Found: Account.address is the entry's key as written (domain lower-cased)
  // for an exact match, else the login's canonical address; Account.node is set.
  // NotFound for a login that does not parse or matches no line.
  void lookup(std::string_view login, core::Executor& reply, LookupCallback done) override;

  // Ok only for a `user@domain` line with a hash that the password matches.
  // Denied with BadLogin (login does not parse), UnknownUser (no exact line, or
  // it has no hash: a domain or `*` route is not an account) or WrongPassword.
  void authenticate(std::string_view login, core::Secret password, core::Executor& reply,
                    AuthCallback done) override;

  // Always NotMember: the file source has no groups.
  void is_member(std::string_view dn, std::string_view group_dn, core::Executor& reply,
                 MembershipCallback done) override;

  // The map in use now. Thread-safe.
  std::shared_ptr<const FileMap> map() const;

 private:
  // What stat() said about the file last time; a change triggers a reload.
  struct FileStamp {
    unsigned long long device = 0;
    unsigned long long inode = 0;
    long long size = -1;
    long long mtime_ns = 0;
    long long ctime_ns = 0;  // so that a chmod that makes the file readable counts
    int error = 0;           // errno of a failed stat or read, 0 when it worked
    bool operator==(const FileStamp&) const = default;
  };
  struct LoadResult;

  static LoadResult load(const std::string& path);
  void poll();  // on watcher_'s thread
  core::LoopThread& next_worker();

  FileSourceConfig config_;
  std::string primary_domain_;

  mutable std::mutex map_mutex_;
  std::shared_ptr<const FileMap> map_;  // guarded by map_mutex_; never null

  // Both only touched on watcher_'s thread.
  FileStamp stamp_;
  std::unique_ptr<core::Timer> timer_;

  // Set by the destructor so crypt tasks still queued answer nobody.
  std::mutex closing_mutex_;
  bool closing_ = false;  // guarded by closing_mutex_

  std::unique_ptr<core::LoopThread> watcher_;
  // Two, so that one slow yescrypt does not hold up every other login.
  std::array<std::unique_ptr<core::LoopThread>, 2> crypt_workers_;
  std::atomic<std::size_t> next_worker_{0};
};

}  // namespace postern::mapping
