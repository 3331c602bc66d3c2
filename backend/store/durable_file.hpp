// Small POSIX helpers for making file-system changes durable. Every function
// blocks on the disk; errors are logged once, here, with the path and errno,
// and returned as values (ENOSPC/EDQUOT -> NoSpace, anything else -> Io).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "backend/store/store_error.hpp"

namespace postern::node::store {

// Logs `op` failing on `path` with `err` (an errno) and maps it.
StoreError io_error(std::string_view op, const std::string& path, int err);

// fsync(2) on an open descriptor.
StoreResult<void> sync_fd(int fd, const std::string& path_for_log);

// Opens the directory and fsyncs it, so that entries created, renamed or
// linked in it survive a crash.
StoreResult<void> sync_directory(const std::string& path);

// mkdir(path, 0700) unless it exists as a directory; a new directory is made
// durable by fsyncing its parent unless `sync_parent` is false (the caller
// syncs the filesystem later). Returns whether it was created. The parent
// must exist.
StoreResult<bool> make_directory(const std::string& path, bool sync_parent = true);

// syncfs(2) on the filesystem holding the open descriptor `fd`: every dirty
// file, directory and journal entry of that filesystem, in one journal commit.
StoreResult<void> sync_filesystem(int fd, const std::string& path_for_log);

// `bytes` random bytes from getrandom(2) as lower-case hex.
StoreResult<std::string> random_hex(std::size_t bytes);

// The directory part of `path` ("a/b/c" -> "a/b", "c" -> ".").
std::string parent_path(const std::string& path);

}  // namespace postern::node::store
