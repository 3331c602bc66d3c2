#include "backend/pop3/maildrop_locks.hpp"

namespace postern::node::pop3 {

std::shared_ptr<MaildropLocks::Lock> MaildropLocks::try_lock(const std::string& address) {
  std::lock_guard guard(state_->mutex);
  if (!state_->held.insert(address).second) return nullptr;
  return std::shared_ptr<Lock>(new Lock(state_, address));
}

std::size_t MaildropLocks::held() const {
  std::lock_guard guard(state_->mutex);
  return state_->held.size();
}

MaildropLocks::Lock::~Lock() {
  std::lock_guard guard(state_->mutex);
  state_->held.erase(address_);
}

}  // namespace postern::node::pop3
