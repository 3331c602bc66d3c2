#include "backend/queue/queue_spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "backend/queue/envelope_codec.hpp"
#include "backend/queue/queue_id.hpp"
#include "backend/store/durable_file.hpp"
#include "backend/store/unique_fd.hpp"
#include "core/log.hpp"

namespace postern::node::queue {

namespace {

std::string errno_text(std::string_view op, const std::string& path, int err) {
  return fmt::format("{} {}: {}", op, path, std::strerror(err));
}

// Names in `dir`, without "." and ".."; an error names the folder.
tl::expected<std::vector<std::string>, std::string> names_in(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
  if (!d) return tl::unexpected(errno_text("opendir", dir, errno));
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

tl::expected<void, std::string> write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return tl::unexpected(errno_text("write", path, errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

tl::expected<std::string, std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(errno_text("open", path, errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

tl::expected<void, std::string> QueueSpool::prepare() const {
  for (const std::string& dir : {root_, incoming_dir(), msg_dir(), env_dir(), root_ + "/corrupt"}) {
    if (auto made = store::make_directory(dir); !made)
      return tl::unexpected(fmt::format("cannot create the queue folder {}: {}", dir,
                                        store::store_error_name(made.error())));
  }
  auto leftovers = names_in(incoming_dir());
  if (!leftovers) return tl::unexpected(leftovers.error());
  for (const std::string& name : *leftovers) {
    std::string path = incoming_dir() + "/" + name;
    if (::unlink(path.c_str()) != 0) return tl::unexpected(errno_text("unlink", path, errno));
    core::log_info("queue_incoming_removed").kv("file", name);
  }
  return {};
}

tl::expected<bool, std::string> QueueSpool::adopt_message(const std::string& from,
                                                          const std::string& id) const {
  std::string to = msg_path(id);
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return false;
    return tl::unexpected(errno_text("rename to", to, errno));
  }
  return true;
}

tl::expected<void, std::string> QueueSpool::create_envelope(const std::string& id,
                                                            const Envelope& envelope) const {
  std::string path = env_path(id);
  store::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return tl::unexpected(errno_text("create", path, errno));
  if (auto w = write_all(fd.get(), encode_envelope(envelope), path); !w) {
    ::unlink(path.c_str());
    return w;
  }
  if (::close(fd.release()) != 0) {
    ::unlink(path.c_str());
    return tl::unexpected(errno_text("close", path, errno));
  }
  return {};
}

tl::expected<bool, std::string> QueueSpool::rewrite_envelope(const std::string& id,
                                                             const Envelope& envelope) const {
  std::string path = env_path(id);
  if (::access(path.c_str(), F_OK) != 0) return false;
  std::string tmp = path + ".tmp";  // not an id: scan() ignores it, prepare()-style cleanup
  store::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return tl::unexpected(errno_text("create", tmp, errno));
  auto w = write_all(fd.get(), encode_envelope(envelope), tmp);
  // The new text must be on disk before its name replaces the old one: a
  // rename that reaches the disk ahead of the data would leave an empty or
  // torn envelope after a crash, and the message undeliverable (ext4 without
  // a journal, or with delayed allocation, gives no such ordering).
  if (w && ::fdatasync(fd.get()) != 0) w = tl::unexpected(errno_text("fdatasync", tmp, errno));
  if (w && ::close(fd.release()) != 0) w = tl::unexpected(errno_text("close", tmp, errno));
  if (w && ::rename(tmp.c_str(), path.c_str()) != 0)
    w = tl::unexpected(errno_text("rename", tmp, errno));
  if (!w) {
    ::unlink(tmp.c_str());
    return tl::unexpected(w.error());
  }
  // `posternctl queue delete` may have run while we wrote: then the rename
  // has just brought its envelope back. remove() takes the message first,
  // so a missing message means deleted; the envelope goes again.
  if (::access(msg_path(id).c_str(), F_OK) != 0) {
    ::unlink(path.c_str());
    return false;
  }
  return true;
}

bool QueueSpool::remove(const std::string& id) const {
  // The message first: a rewrite of the envelope racing with us checks for
  // it after its rename (rewrite_envelope), and a crash in between leaves an
  // envelope without a message, which recovery removes.
  bool msg = ::unlink(msg_path(id).c_str()) == 0;
  bool env = ::unlink(env_path(id).c_str()) == 0;
  return env || msg;
}

tl::expected<std::vector<SpooledMessage>, std::string> QueueSpool::scan(bool repair) const {
  auto msgs = names_in(msg_dir());
  if (!msgs) return tl::unexpected(msgs.error());
  auto envs = names_in(env_dir());
  if (!envs) return tl::unexpected(envs.error());
  std::set<std::string> with_message(msgs->begin(), msgs->end());
  std::set<std::string> with_envelope;
  std::vector<SpooledMessage> out;
  for (const std::string& name : *envs) {
    if (!is_queue_id(name)) {
      // A rewrite's tmp file left by a crash: the env it was replacing stands.
      if (repair) ::unlink((env_dir() + "/" + name).c_str());
      continue;
    }
    with_envelope.insert(name);
    if (with_message.count(name) == 0) {
      if (repair && ::unlink(env_path(name).c_str()) == 0)
        core::log_warn("queue_orphan_removed").kv("queue_id", name).kv("missing", "msg");
      continue;
    }
    auto text = read_file(env_path(name));
    tl::expected<Envelope, std::string> envelope =
        text ? decode_envelope(*text) : tl::unexpected(text.error());
    if (!envelope) {
      if (repair) {
        // Never delete what may be an acknowledged message: set it aside.
        std::string dir = root_ + "/corrupt/";
        ::rename(env_path(name).c_str(), (dir + name + ".env").c_str());
        ::rename(msg_path(name).c_str(), (dir + name).c_str());
        core::log_error("queue_envelope_unreadable")
            .kv("queue_id", name)
            .kv("error", envelope.error())
            .kv("moved_to", dir);
      }
      continue;
    }
    struct stat st {};
    if (::stat(msg_path(name).c_str(), &st) != 0) continue;  // removed meanwhile
    out.push_back(
        SpooledMessage{name, std::move(*envelope), static_cast<std::uint64_t>(st.st_size)});
  }
  if (repair) {
    for (const std::string& name : *msgs) {
      if (with_envelope.count(name) != 0) continue;
      if (::unlink((msg_dir() + "/" + name).c_str()) == 0)
        core::log_warn("queue_orphan_removed").kv("queue_id", name).kv("missing", "env");
    }
  }
  return out;
}

}  // namespace postern::node::queue
