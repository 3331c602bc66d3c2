#include "backend/store/message_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "backend/store/durable_file.hpp"
#include "backend/store/unique_fd.hpp"
#include "core/log.hpp"

namespace postern::node::store {

namespace {

constexpr std::size_t kNameBytes = 16;  // 32 hex digits
constexpr std::size_t kCopyChunk = 1 << 16;

// MessageDir::shard_state_ values.
constexpr std::uint8_t kUnknown = 0;
constexpr std::uint8_t kExists = 1;
constexpr std::uint8_t kDurable = 2;

struct DirCloser {
  void operator()(DIR* d) const noexcept {
    if (d != nullptr) ::closedir(d);
  }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

int shard_index(std::string_view shard) {
  auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  return digit(shard[0]) * 16 + digit(shard[1]);
}

// Names of the entries of `dir` other than "." and "..".
StoreResult<std::vector<std::string>> list_directory(const std::string& dir) {
  DirPtr d(::opendir(dir.c_str()));
  if (!d) return fail(io_error("opendir", dir, errno));
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(d.get())) {
    std::string_view name(entry->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  if (errno != 0) return fail(io_error("readdir", dir, errno));
  return names;
}

}  // namespace

MessageDir::MessageDir(const std::string& account_dir)
    : msg_dir_(account_dir + "/msg"), tmp_dir_(account_dir + "/tmp") {}

bool MessageDir::valid_name(std::string_view name) {
  return name.size() == kNameBytes * 2 && is_hex(name);
}

std::string MessageDir::path(std::string_view name) const {
  std::string p = msg_dir_;
  p += '/';
  p += name.substr(0, 2);
  p += '/';
  p += name;
  return p;
}

StoreResult<void> MessageDir::prepare(bool empty_tmp) {
  for (const std::string* dir : {&msg_dir_, &tmp_dir_}) {
    if (auto made = make_directory(*dir); !made) return fail(made.error());
  }
  if (!empty_tmp) return {};
  auto leftovers = list_directory(tmp_dir_);
  if (!leftovers) return fail(leftovers.error());
  for (const std::string& name : *leftovers) {
    std::string p = tmp_dir_ + "/" + name;
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return fail(io_error("unlink", p, errno));
    core::log_info("store_tmp_removed").kv("path", p);
  }
  return {};
}

StoreResult<void> MessageDir::ensure_shard(std::string_view shard, Sync sync) {
  auto& state = shard_state_[static_cast<std::size_t>(shard_index(shard))];
  std::uint8_t known = state.load(std::memory_order_acquire);
  if (known == kDurable || (known == kExists && sync == Sync::Later)) return {};
  std::string dir = msg_dir_ + "/" + std::string(shard);
  if (sync == Sync::Later) {
    if (auto made = make_directory(dir, false); !made) return fail(made.error());
    std::uint8_t expected = kUnknown;
    state.compare_exchange_strong(expected, kExists, std::memory_order_acq_rel);
    return {};
  }
  auto made = make_directory(dir, true);
  if (!made) return fail(made.error());
  // Found existing: maybe made by a deferred append (of this process or
  // another) whose filesystem sync has not happened yet. Once per shard.
  if (!*made) {
    if (auto ok = sync_directory(msg_dir_); !ok) return ok;
  }
  state.store(kDurable, std::memory_order_release);
  return {};
}

StoreResult<std::string> MessageDir::new_name(Sync sync) {
  return new_name_like({}, sync);
}

StoreResult<std::string> MessageDir::new_name_like(std::string_view sibling, Sync sync) {
  auto name = random_hex(kNameBytes);
  if (!name) return name;
  if (valid_name(sibling)) name->replace(0, 2, sibling.substr(0, 2));
  if (auto ok = ensure_shard(std::string_view(*name).substr(0, 2), sync); !ok) {
    return fail(ok.error());
  }
  return name;
}

StoreResult<void> MessageDir::place(const std::string& source, std::uint64_t expected_size,
                                    std::string_view name, Sync sync) {
  // Sync::Later links by name and needs no descriptor: lstat (no symlink),
  // link, then check that the new name denotes the inode we checked.
  UniqueFd fd;
  struct stat st {};
  int err = 0;
  if (sync == Sync::Each) {
    fd = UniqueFd(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd || ::fstat(fd.get(), &st) != 0) err = errno;
  } else if (::lstat(source.c_str(), &st) != 0) {
    err = errno;
  }
  if (err != 0) {
    core::log_warn("store_source_unusable").kv("path", source).kv("errno", err);
    return fail(err == ENOENT || err == ELOOP ? StoreError::BadArgument
                                              : io_error("open", source, err));
  }
  if (!S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != expected_size) {
    core::log_warn("store_source_mismatch")
        .kv("path", source)
        .kv("size", static_cast<std::int64_t>(st.st_size))
        .kv("expected", expected_size);
    return fail(StoreError::BadArgument);
  }
  if (sync == Sync::Each) {
    if (auto synced = sync_fd(fd.get(), source); !synced) return synced;
  }
  std::string dest = path(name);
  if (::link(source.c_str(), dest.c_str()) == 0) {
    // The name must still denote the inode we checked (and synced).
    struct stat linked {};
    if (::lstat(dest.c_str(), &linked) != 0 || linked.st_ino != st.st_ino ||
        linked.st_dev != st.st_dev || static_cast<std::uint64_t>(linked.st_size) != expected_size) {
      ::unlink(dest.c_str());
      core::log_warn("store_source_replaced").kv("path", source);
      return fail(StoreError::BadArgument);
    }
    return {};
  }
  err = errno;
  if (err != EXDEV && err != EPERM && err != EMLINK && err != EOPNOTSUPP) {
    return fail(io_error("link", dest, err));
  }
  if (!fd) {
    // Copying needs the bytes: open what we checked, and make sure it is.
    fd = UniqueFd(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat opened {};
    if (!fd || ::fstat(fd.get(), &opened) != 0 || opened.st_ino != st.st_ino ||
        opened.st_dev != st.st_dev) {
      core::log_warn("store_source_replaced").kv("path", source);
      return fail(StoreError::BadArgument);
    }
  }
  return copy_in(fd.get(), expected_size, name, sync);
}

StoreResult<void> MessageDir::copy_in(int source_fd, std::uint64_t size, std::string_view name,
                                      Sync sync) {
  std::string tmp = tmp_dir_ + "/" + std::string(name);
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) return fail(io_error("open", tmp, errno));
  auto fail_and_remove = [&](StoreError e) {
    ::unlink(tmp.c_str());
    return fail(e);
  };
  std::uint64_t done = 0;
  std::vector<char> buffer;  // only if the kernel cannot copy between these files
  while (done < size) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size - done, 1u << 30));
    ssize_t n = -1;
    if (buffer.empty()) {
      n = ::copy_file_range(source_fd, nullptr, out.get(), nullptr, want, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        buffer.resize(kCopyChunk);
        continue;
      }
    } else {
      n = ::read(source_fd, buffer.data(), std::min(want, buffer.size()));
      if (n > 0 && ::write(out.get(), buffer.data(), static_cast<std::size_t>(n)) != n) n = -1;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_and_remove(io_error("copy", tmp, errno));
    if (n == 0) return fail_and_remove(StoreError::BadArgument);  // the source shrank
    done += static_cast<std::uint64_t>(n);
  }
  if (sync == Sync::Each) {
    if (auto synced = sync_fd(out.get(), tmp); !synced) return fail_and_remove(synced.error());
  }
  std::string dest = path(name);
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) != 0) {
    return fail_and_remove(io_error("rename", dest, errno));
  }
  return {};
}

StoreResult<void> MessageDir::link(std::string_view existing, std::string_view name) {
  std::string from = path(existing);
  std::string to = path(name);
  if (::link(from.c_str(), to.c_str()) == 0) return {};
  int err = errno;
  if (err == ENOENT) return fail(StoreError::NoSuchMessage);
  return fail(io_error("link", to, err));
}

StoreResult<void> MessageDir::sync_shards(std::span<const std::string> names) {
  std::array<bool, 256> done{};
  for (const std::string& name : names) {
    auto i = static_cast<std::size_t>(shard_index(name));
    if (done[i]) continue;
    done[i] = true;
    if (auto ok = sync_directory(msg_dir_ + "/" + name.substr(0, 2)); !ok) return ok;
  }
  return {};
}

void MessageDir::remove(std::string_view name) const {
  std::string p = path(name);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) io_error("unlink", p, errno);
}

StoreResult<std::vector<std::string>> MessageDir::scan() const {
  auto shards = list_directory(msg_dir_);
  if (!shards) return fail(shards.error());
  std::vector<std::string> names;
  for (const std::string& shard : *shards) {
    if (shard.size() != 2 || !is_hex(shard)) {
      core::log_warn("store_unknown_file").kv("path", msg_dir_ + "/" + shard);
      continue;
    }
    std::string dir = msg_dir_ + "/" + shard;
    auto files = list_directory(dir);
    if (!files) return fail(files.error());
    for (std::string& file : *files) {
      if (valid_name(file) && file.compare(0, 2, shard) == 0) {
        names.push_back(std::move(file));
      } else {
        std::string path = dir;
        path += '/';
        path += file;
        core::log_warn("store_unknown_file").kv("path", path);
      }
    }
  }
  return names;
}

}  // namespace postern::node::store
