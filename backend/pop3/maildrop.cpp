#include "backend/pop3/maildrop.hpp"

#include <fmt/format.h>

namespace postern::node::pop3 {

namespace {

// Consecutive uids become one range, so a QUIT after deleting 10,000 messages
// sends a short set to the store.
void add_uid(store::UidSet& set, store::Uid uid) {
  if (!set.empty() && set.back().last + 1 == uid) {
    set.back().last = uid;
  } else {
    set.push_back({uid, uid});
  }
}

}  // namespace

std::string_view message_error_text(MessageError e) {
  return e == MessageError::Deleted ? "Message is deleted" : "There is no such message";
}

Maildrop::Maildrop(store::MailboxId mailbox, std::uint32_t uidvalidity,
                   const store::MessageList& list)
    : mailbox_(mailbox), uidvalidity_(uidvalidity) {
  messages_.reserve(list.messages.size());
  for (const auto& m : list.messages) messages_.push_back({m.uid, m.size, false, false});
}

std::size_t Maildrop::live_count() const {
  std::size_t n = 0;
  for (const auto& m : messages_) n += m.deleted ? 0 : 1;
  return n;
}

std::uint64_t Maildrop::live_octets() const {
  std::uint64_t n = 0;
  for (const auto& m : messages_) n += m.deleted ? 0 : m.size;
  return n;
}

tl::expected<MaildropMessage*, MessageError> Maildrop::find(std::uint32_t number) {
  if (number == 0 || number > messages_.size()) return tl::unexpected(MessageError::NoSuchMessage);
  MaildropMessage& m = messages_[number - 1];
  if (m.deleted) return tl::unexpected(MessageError::Deleted);
  return &m;
}

std::string Maildrop::unique_id(std::uint32_t number) const {
  // Both numbers are stable in the store; a new UIDVALIDITY (INBOX recreated)
  // rightly makes every message look new to the client.
  return fmt::format("{}.{}", uidvalidity_, messages_[number - 1].uid);
}

void Maildrop::reset_deletions() {
  for (auto& m : messages_) m.deleted = false;
}

store::UidSet Maildrop::deleted_uids() const {
  store::UidSet set;
  for (const auto& m : messages_) {
    if (m.deleted) add_uid(set, m.uid);
  }
  return set;
}

store::UidSet Maildrop::seen_uids() const {
  store::UidSet set;
  for (const auto& m : messages_) {
    if (m.retrieved && !m.deleted) add_uid(set, m.uid);
  }
  return set;
}

std::size_t Maildrop::deleted_count() const {
  return messages_.size() - live_count();
}

}  // namespace postern::node::pop3
