#include "mapping/file_directory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>
#include <vector>

#include "core/config.hpp"
#include "core/log.hpp"
#include "mapping/address.hpp"
#include "mapping/password_hash.hpp"

namespace postern::mapping {

struct FileDirectory::LoadResult {
  std::optional<FileStamp> stamp;      // of the file that was read, when open() worked
  std::shared_ptr<const FileMap> map;  // set when the file was read and had no errors
  std::vector<FileMapError> errors;    // parse errors
  std::string read_error;              // why the file could not be read
};

namespace {

constexpr std::size_t kReadChunkBytes = std::size_t{64} * 1024;
// A reload_interval of 0 would spin the watcher; the configuration allows 50 ms.
constexpr std::chrono::milliseconds kMinReloadInterval{10};

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// Closes a descriptor on every path.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

template <class Stamp>
Stamp stamp_of(const struct stat& st) {
  auto ns = [](const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; };
  return Stamp{st.st_dev, st.st_ino, st.st_size, ns(st.st_mtim), ns(st.st_ctim), 0};
}

template <class Callback, class Result>
void answer(core::Executor& reply, Callback done, Result result) {
  reply.post(
      [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
}

}  // namespace

FileDirectory::LoadResult FileDirectory::load(const std::string& path) {
  LoadResult out;
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    out.read_error = "cannot open: " + errno_text(errno);
    return out;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    out.read_error = "cannot stat: " + errno_text(errno);
    return out;
  }
  out.stamp = stamp_of<FileStamp>(st);
  FileMapParser parser;
  std::vector<char> buffer(kReadChunkBytes);
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.read_error = "cannot read: " + errno_text(errno);
      return out;
    }
    if (n == 0) break;
    parser.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  auto parsed = parser.finish();
  if (parsed.ok()) {
    out.map = std::make_shared<const FileMap>(std::move(parsed.map));
  } else {
    out.errors = std::move(parsed.errors);
  }
  return out;
}

FileDirectory::FileDirectory(FileSourceConfig config, std::string primary_domain)
    : config_(std::move(config)), primary_domain_(std::move(primary_domain)) {
  auto loaded = load(config_.path);
  if (!loaded.read_error.empty()) {
    throw core::ConfigError(config_.path, "directory.file.path", loaded.read_error);
  }
  if (!loaded.map) {
    const auto& first = loaded.errors.front();
    throw core::ConfigError(
        config_.path, "directory.file.path",
        fmt::format("{}:{}: {} ({} error{} in all; the file is rejected)", config_.path, first.line,
                    first.reason, loaded.errors.size(), loaded.errors.size() == 1 ? "" : "s"));
  }
  map_ = loaded.map;
  stamp_ = *loaded.stamp;
  core::log_info("file_map_loaded").kv("file", config_.path).kv("entries", map_->size());

  for (auto& worker : crypt_workers_) worker = std::make_unique<core::LoopThread>();
  watcher_ = std::make_unique<core::LoopThread>();
  // The timer lives and dies on the watcher's thread, so its callback never races
  // its destruction. (It captures the loop, not watcher_: the destructor's
  // watcher_.reset() nulls the pointer before this task may have run.)
  auto& loop = watcher_->loop();
  loop.post([this, &loop] {
    timer_ = std::make_unique<core::Timer>(loop, [this] {
      poll();
      timer_->arm(std::max(config_.reload_interval, kMinReloadInterval));
    });
    timer_->arm(std::max(config_.reload_interval, kMinReloadInterval));
  });
}

FileDirectory::~FileDirectory() {
  {
    std::lock_guard lock(closing_mutex_);
    closing_ = true;
  }
  watcher_->loop().post([this] { timer_.reset(); });
  watcher_.reset();  // runs the task above, then stops and joins
  for (auto& worker : crypt_workers_) worker.reset();
}

std::shared_ptr<const FileMap> FileDirectory::map() const {
  std::lock_guard lock(map_mutex_);
  return map_;
}

void FileDirectory::poll() {
  FileStamp now;
  struct stat st {};
  if (::stat(config_.path.c_str(), &st) != 0) {
    now.error = errno;
  } else {
    now = stamp_of<FileStamp>(st);
  }
  if (now == stamp_) return;
  if (now.error != 0) {
    // Logged once per change, not once per tick: an editor's rename dance or a
    // deleted file must not flood the log.
    stamp_ = now;
    core::log_warn("file_map_rejected")
        .kv("file", config_.path)
        .kv("reason", "cannot stat: " + errno_text(now.error));
    return;
  }
  auto loaded = load(config_.path);
  stamp_ = loaded.stamp.value_or(now);
  if (!loaded.read_error.empty()) {
    core::log_warn("file_map_rejected").kv("file", config_.path).kv("reason", loaded.read_error);
    return;
  }
  if (!loaded.map) {
    // Enough lines to fix the file; a garbage file must not flood the log.
    constexpr std::size_t kMaxLoggedErrors = 20;
    for (std::size_t i = 0; i < loaded.errors.size() && i < kMaxLoggedErrors; ++i) {
      core::log_warn("file_map_rejected")
          .kv("file", config_.path)
          .kv("line", loaded.errors[i].line)
          .kv("reason", loaded.errors[i].reason);
    }
    if (loaded.errors.size() > kMaxLoggedErrors) {
      core::log_warn("file_map_rejected")
          .kv("file", config_.path)
          .kv("more_errors", loaded.errors.size() - kMaxLoggedErrors);
    }
    return;
  }
  {
    std::lock_guard lock(map_mutex_);
    map_ = loaded.map;
  }
  core::log_info("file_map_loaded").kv("file", config_.path).kv("entries", loaded.map->size());
}

core::LoopThread& FileDirectory::next_worker() {
  return *crypt_workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) %
                         crypt_workers_.size()];
}

void FileDirectory::lookup(std::string_view login, core::Executor& reply, LookupCallback done) {
  LookupResult result;
  auto address = parse_login(login, primary_domain_);
  if (!address) {
    result.status = LookupStatus::NotFound;
    result.detail = "bad login: " + std::string(address_error_text(address.error()));
    return answer(reply, std::move(done), std::move(result));
  }
  auto current = map();
  auto match = current->lookup(*address);
  if (!match) {
    result.status = LookupStatus::NotFound;
    result.detail = "no line for the address, its @domain or *";
    return answer(reply, std::move(done), std::move(result));
  }
  result.status = LookupStatus::Found;
  result.account.address = match->exact ? std::string(match->key) : address->full();
  result.account.node = std::string(match->node);
  result.detail = "matched key " + std::string(match->key);
  answer(reply, std::move(done), std::move(result));
}

void FileDirectory::authenticate(std::string_view login, core::Secret password,
                                 core::Executor& reply, AuthCallback done) {
  AuthResult result;
  result.status = AuthStatus::Denied;
  auto address = parse_login(login, primary_domain_);
  if (!address) {
    result.reason = DenyReason::BadLogin;
    result.detail = "bad login: " + std::string(address_error_text(address.error()));
    return answer(reply, std::move(done), std::move(result));
  }
  auto current = map();
  auto match = current->lookup(*address);
  if (!match || !match->exact || match->hash.empty()) {
    result.reason = DenyReason::UnknownUser;
    result.detail = !match || !match->exact ? "no user@domain line for the address"
                                            : "the user@domain line has no password hash";
    return answer(reply, std::move(done), std::move(result));
  }
  result.account.address = std::string(match->key);
  result.account.node = std::string(match->node);

  // std::function needs a copyable task, and Secret is move-only.
  auto secret = std::make_shared<core::Secret>(std::move(password));
  next_worker().loop().post([this, secret, hash = std::string(match->hash),
                             result = std::move(result), &reply, done = std::move(done)]() mutable {
    {
      std::lock_guard lock(closing_mutex_);
      if (closing_) return;
    }
    bool ok = verify_password(secret->reveal(), hash);
    *secret = core::Secret();  // wipe now, not whenever the task is freed
    if (ok) {
      result.status = AuthStatus::Ok;
    } else {
      result.reason = DenyReason::WrongPassword;
      result.detail = "password does not match the hash";
    }
    std::lock_guard lock(closing_mutex_);
    if (!closing_) answer(reply, std::move(done), std::move(result));
  });
}

void FileDirectory::is_member(std::string_view /*dn*/, std::string_view /*group_dn*/,
                              core::Executor& reply, MembershipCallback done) {
  answer(reply, std::move(done),
         MembershipResult{MembershipStatus::NotMember, "the file source has no groups"});
}

}  // namespace postern::mapping
