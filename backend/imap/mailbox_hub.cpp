#include "backend/imap/mailbox_hub.hpp"

#include <algorithm>

namespace postern::node::imap {

std::string MailboxHub::key_of(const std::string& account, store::MailboxId mailbox) {
  return std::to_string(mailbox) + ":" + account;
}

std::shared_ptr<void> MailboxHub::watch(const std::string& account, store::MailboxId mailbox,
                                        std::weak_ptr<MailboxWatcher> watcher) {
  std::string key = key_of(account, mailbox);
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    watchers_[key].push_back(Entry{id, std::move(watcher)});
  }
  // The handle's deleter unregisters; the hub outlives every session.
  return std::shared_ptr<void>(nullptr, [this, key, id](void*) { unwatch(key, id); });
}

void MailboxHub::unwatch(const std::string& key, std::uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = watchers_.find(key);
  if (it == watchers_.end()) return;
  std::erase_if(it->second, [id](const Entry& e) { return e.id == id; });
  if (it->second.empty()) watchers_.erase(it);
}

void MailboxHub::changed(const std::string& account, store::MailboxId mailbox,
                         const MailboxWatcher* origin) {
  std::vector<std::shared_ptr<MailboxWatcher>> targets;
  {
    std::lock_guard lock(mutex_);
    auto it = watchers_.find(key_of(account, mailbox));
    if (it == watchers_.end()) return;
    for (const Entry& e : it->second) {
      if (auto w = e.watcher.lock(); w && w.get() != origin) targets.push_back(std::move(w));
    }
  }
  for (auto& w : targets) w->mailbox_changed();
}

}  // namespace postern::node::imap
