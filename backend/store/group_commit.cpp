#include "backend/store/group_commit.hpp"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace postern::node::store {

namespace {

struct Waiter {
  MailboxId mailbox;
  const NewMessage* message;
  std::optional<StoreResult<AppendResult>> result;  // guarded by the group's mutex
};

// The appends in flight for one account. Lives while someone uses it.
struct Group {
  std::mutex mutex;
  std::condition_variable done;
  std::vector<Waiter*> queue;  // guarded by mutex
  bool committing = false;     // guarded by mutex: a leader is in append_batch
  int users = 0;               // guarded by the registry's mutex
};

std::mutex registry_mutex;
std::unordered_map<const AccountStore*, std::shared_ptr<Group>> registry;

std::shared_ptr<Group> join(const AccountStore* account) {
  std::lock_guard lock(registry_mutex);
  auto& group = registry[account];
  if (!group) group = std::make_shared<Group>();
  ++group->users;
  return group;
}

void leave(const AccountStore* account, const std::shared_ptr<Group>& group) {
  std::lock_guard lock(registry_mutex);
  if (--group->users == 0) registry.erase(account);
}

// Commits `batch` (the leader's own message among them), one append_batch
// per mailbox. Results in `batch` order; the caller hands them out under the
// group's lock.
std::vector<StoreResult<AppendResult>> commit(AccountStore& account,
                                              const std::vector<Waiter*>& batch) {
  std::vector<StoreResult<AppendResult>> out(batch.size(),
                                             StoreResult<AppendResult>(fail(StoreError::Io)));
  std::vector<MailboxId> mailboxes;
  for (const Waiter* w : batch) {
    if (std::find(mailboxes.begin(), mailboxes.end(), w->mailbox) == mailboxes.end()) {
      mailboxes.push_back(w->mailbox);
    }
  }
  for (MailboxId mailbox : mailboxes) {
    std::vector<std::size_t> mine;  // indexes into batch
    std::vector<NewMessage> messages;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i]->mailbox != mailbox) continue;
      mine.push_back(i);
      messages.push_back(*batch[i]->message);
    }
    if (mine.size() > 1) {
      if (auto results = account.append_batch(mailbox, messages)) {
        for (std::size_t k = 0; k < mine.size(); ++k) out[mine[k]] = (*results)[k];
        continue;
      }
      // All or none: find out whose fault it was, one by one.
    }
    for (std::size_t i : mine) out[i] = account.append(mailbox, *batch[i]->message);
  }
  return out;
}

}  // namespace

StoreResult<AppendResult> append_grouped(AccountStore& account, MailboxId mailbox,
                                         const NewMessage& message) {
  auto group = join(&account);
  Waiter me{mailbox, &message, std::nullopt};
  std::unique_lock lock(group->mutex);
  group->queue.push_back(&me);
  while (!me.result && group->committing) group->done.wait(lock);
  if (!me.result) {
    // Nobody is committing: lead, taking everyone who queued meanwhile.
    group->committing = true;
    std::vector<Waiter*> batch;
    batch.swap(group->queue);
    lock.unlock();
    auto results = commit(account, batch);
    lock.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->result = std::move(results[i]);
    group->committing = false;
    group->done.notify_all();
  }
  StoreResult<AppendResult> result = std::move(*me.result);
  lock.unlock();
  leave(&account, group);
  return result;
}

}  // namespace postern::node::store
