#include "backend/store/store.hpp"

#include <cassert>

#include "backend/store/account_path.hpp"
#include "backend/store/durable_file.hpp"
#include "core/log.hpp"

namespace postern::node::store {

Store::Store(std::string root, StoreOptions options) : root_(std::move(root)), options_(options) {}

Store::~Store() {
  drop_lingering();
}

StoreResult<std::string> Store::account_directory(std::string_view address) const {
  auto relative = account_relative_path(address);
  if (!relative) return fail(relative.error());
  return root_ + "/" + *relative;
}

std::shared_ptr<Store::Slot> Store::slot_for(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (slots_.size() >= sweep_at_) {
    // Forget closed accounts nobody is opening: only the map holds the slot,
    // so no one can be about to use it.
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (it->second.use_count() == 1 && it->second->account.expired()) {
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
    sweep_at_ = std::max<std::size_t>(64, slots_.size() * 2);
  }
  auto& slot = slots_[key];
  if (!slot) slot = std::make_shared<Slot>();
  return slot;
}

StoreResult<std::shared_ptr<AccountStore>> Store::account(std::string_view address) {
  auto relative = account_relative_path(address);
  if (!relative) {
    core::log_warn("store_bad_address").kv("address", address);
    return fail(relative.error());
  }
  Dropped dropped;  // declared first: closed after both locks are released
  std::shared_ptr<Slot> slot = slot_for(*relative);
  std::lock_guard lock(slot->mutex);
  std::shared_ptr<AccountStore> account = slot->account.lock();
  if (!account) {
    std::string domain_dir = root_ + "/" + relative->substr(0, relative->find('/'));
    if (auto made = make_directory(domain_dir); !made) return fail(made.error());
    auto opened = AccountStore::open(root_ + "/" + *relative, std::string(address), options_);
    if (!opened) return fail(opened.error());
    account = std::move(*opened);
    slot->account = account;
  }
  if (options_.linger.count() > 0) {
    std::lock_guard store_lock(mutex_);
    remember(*relative, account, dropped);
  }
  return account;
}

void Store::remember(const std::string& key, const std::shared_ptr<AccountStore>& account,
                     Dropped& dropped) {
  const auto now = std::chrono::steady_clock::now();
  if (auto it = linger_index_.find(key); it != linger_index_.end()) {
    // A lingering entry keeps its account open, so the slot handed out that
    // very account rather than opening another.
    assert(it->second->account == account);
    it->second->last_use = now;
    linger_.splice(linger_.begin(), linger_, it->second);
    return;
  }
  linger_.push_front(Lingering{key, account, now});
  linger_index_.emplace(key, linger_.begin());
  trim(dropped);
}

void Store::trim(Dropped& dropped) {
  // Accounts in use stay: dropping them would only move their close to
  // whichever user lets go last, maybe on an event loop.
  auto it = linger_.end();
  while (linger_.size() > options_.linger_max && it != linger_.begin()) {
    --it;
    if (it->account.use_count() > 1) continue;
    forget(it++, dropped);
  }
}

void Store::forget(LingerList::iterator it, Dropped& dropped) {
  dropped.push_back(std::move(it->account));
  linger_index_.erase(it->key);
  linger_.erase(it);
}

void Store::sweep(std::chrono::steady_clock::time_point now) {
  Dropped dropped;  // closed after the mutex is released
  std::lock_guard lock(mutex_);
  LingerList in_use;
  for (auto it = linger_.begin(); it != linger_.end();) {
    auto next = std::next(it);
    if (it->account.use_count() > 1) {
      // Someone holds it: the linger starts when they let go. (A new user
      // comes through account(), which re-registers the account under mutex_
      // after taking its reference: dropping an idle entry below never
      // leaves a reference from account() unregistered.)
      it->last_use = now;
      in_use.splice(in_use.end(), linger_, it);
    } else if (now - it->last_use >= options_.linger) {
      forget(it, dropped);
    }
    it = next;
  }
  linger_.splice(linger_.begin(), in_use);
  trim(dropped);
}

void Store::drop_lingering() {
  Dropped dropped;
  std::lock_guard lock(mutex_);
  for (auto& entry : linger_) dropped.push_back(std::move(entry.account));
  linger_.clear();
  linger_index_.clear();
}

std::size_t Store::lingering() const {
  std::lock_guard lock(mutex_);
  return linger_.size();
}

std::vector<StoreResult<AppendResult>> Store::deliver_linked(
    const NewMessage& message, std::span<const LinkedDelivery> recipients) {
  NewMessage linked = message;
  linked.source_mode = SourceMode::Link;
  std::vector<StoreResult<AppendResult>> results;
  results.reserve(recipients.size());
  for (const LinkedDelivery& recipient : recipients) {
    auto account = this->account(recipient.address);
    if (!account) {
      results.push_back(fail(account.error()));
      continue;
    }
    auto mailbox = (*account)->find_mailbox(recipient.mailbox);
    if (!mailbox || !mailbox->selectable) mailbox = (*account)->find_mailbox("INBOX");
    if (!mailbox) {
      results.push_back(fail(mailbox.error()));
      continue;
    }
    results.push_back((*account)->append(mailbox->id, linked));
    core::log_info("store_deliver")
        .kv("account", recipient.address)
        .kv("mailbox", mailbox->name)
        .kv("ok", results.back().has_value());
  }
  return results;
}

}  // namespace postern::node::store
