#include "backend/store/store.hpp"

#include "backend/store/account_path.hpp"
#include "backend/store/durable_file.hpp"
#include "core/log.hpp"

namespace postern::node::store {

Store::Store(std::string root, StoreOptions options) : root_(std::move(root)), options_(options) {}

Store::~Store() = default;

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
  std::shared_ptr<Slot> slot = slot_for(*relative);
  std::lock_guard lock(slot->mutex);
  if (auto open = slot->account.lock()) return open;
  std::string domain_dir = root_ + "/" + relative->substr(0, relative->find('/'));
  if (auto made = make_directory(domain_dir); !made) return fail(made.error());
  auto opened = AccountStore::open(root_ + "/" + *relative, std::string(address), options_);
  if (!opened) return fail(opened.error());
  slot->account = *opened;
  return opened;
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
