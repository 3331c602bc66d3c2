#include "backend/queue/group_sync.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <optional>
#include <set>

#include "backend/store/durable_file.hpp"

namespace postern::node::queue {

struct GroupSync::Waiter {
  std::vector<std::string> files;
  std::optional<tl::expected<void, std::string>> result;  // guarded by mutex_
};

GroupSync::GroupSync(std::string root, store::SyncMode mode)
    : root_(std::move(root)), mode_(mode) {}

std::uint64_t GroupSync::syncs() const {
  std::lock_guard lock(mutex_);
  return syncs_;
}

tl::expected<void, std::string> GroupSync::sync(std::vector<std::string> files) {
  Waiter me{std::move(files), std::nullopt};
  std::unique_lock lock(mutex_);
  queue_.push_back(&me);
  while (!me.result && syncing_) done_.wait(lock);
  if (!me.result) {
    // Nobody is syncing: lead, for everyone who queued meanwhile. No wait for
    // more followers: the sync itself is the window in which they gather.
    syncing_ = true;
    std::vector<Waiter*> batch;
    batch.swap(queue_);
    lock.unlock();
    auto result = sync_all(batch);
    lock.lock();
    for (Waiter* w : batch) w->result = result;
    ++syncs_;
    syncing_ = false;
    done_.notify_all();
  }
  return std::move(*me.result);
}

tl::expected<void, std::string> GroupSync::sync_all(const std::vector<Waiter*>& batch) {
  auto failed = [](store::StoreError e, const std::string& path) {
    return tl::unexpected(fmt::format("sync {}: {}", path, store::store_error_name(e)));
  };
  if (mode_ == store::SyncMode::Batch) {
    store::UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return tl::unexpected(fmt::format("open {}: {}", root_, std::strerror(errno)));
    if (auto s = store::sync_filesystem(fd.get(), root_); !s) return failed(s.error(), root_);
    return {};
  }
  std::set<std::string> folders;
  for (const Waiter* w : batch) {
    for (const std::string& file : w->files) {
      store::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return tl::unexpected(fmt::format("open {}: {}", file, std::strerror(errno)));
      if (auto s = store::sync_fd(fd.get(), file); !s) return failed(s.error(), file);
      folders.insert(store::parent_path(file));
    }
  }
  for (const std::string& folder : folders) {
    if (auto s = store::sync_directory(folder); !s) return failed(s.error(), folder);
  }
  return {};
}

}  // namespace postern::node::queue
