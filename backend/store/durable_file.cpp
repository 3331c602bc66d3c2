#include "backend/store/durable_file.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backend/store/unique_fd.hpp"
#include "core/log.hpp"

namespace postern::node::store {

StoreError io_error(std::string_view op, const std::string& path, int err) {
  core::log_error("store_io_error")
      .kv("op", op)
      .kv("path", path)
      .kv("errno", err)
      .kv("error", std::strerror(err));
  return (err == ENOSPC || err == EDQUOT) ? StoreError::NoSpace : StoreError::Io;
}

StoreResult<void> sync_fd(int fd, const std::string& path_for_log) {
  if (::fsync(fd) != 0) return fail(io_error("fsync", path_for_log, errno));
  return {};
}

StoreResult<void> sync_directory(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return fail(io_error("open_dir", path, errno));
  return sync_fd(fd.get(), path);
}

StoreResult<void> sync_filesystem(int fd, const std::string& path_for_log) {
  if (::syncfs(fd) != 0) return fail(io_error("syncfs", path_for_log, errno));
  return {};
}

StoreResult<bool> make_directory(const std::string& path, bool sync_parent) {
  if (::mkdir(path.c_str(), 0700) != 0) {
    int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return false;
    return fail(io_error("mkdir", path, err));
  }
  if (!sync_parent) return true;
  if (auto synced = sync_directory(parent_path(path)); !synced) return fail(synced.error());
  return true;
}

StoreResult<std::string> random_hex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  unsigned char buf[64];
  if (bytes > sizeof buf) return fail(StoreError::BadArgument);
  std::size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(buf + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(io_error("getrandom", "-", errno));
    }
    got += static_cast<std::size_t>(n);
  }
  std::string out;
  out.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    out += kHex[buf[i] >> 4];
    out += kHex[buf[i] & 0xf];
  }
  return out;
}

std::string parent_path(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace postern::node::store
