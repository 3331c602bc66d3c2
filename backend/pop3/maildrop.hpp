// A POP3 session's view of its maildrop (the account's INBOX): the messages as
// they were at login, numbered from 1 (RFC 1939 section 5), with the session's
// deletion marks. Pure: the store is read before and written after (UPDATE
// state) by the session, on the worker pool.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/store/store_types.hpp"

namespace postern::node::pop3 {

struct MaildropMessage {
  store::Uid uid = 0;
  std::uint64_t size = 0;  // RFC822.SIZE: the file is CRLF already
  bool deleted = false;
  bool retrieved = false;  // RETR'd (gets \Seen at UPDATE)
};

enum class MessageError {
  NoSuchMessage,  // number out of range
  Deleted,        // marked by DELE in this session
};
std::string_view message_error_text(MessageError e);

class Maildrop {
 public:
  Maildrop() = default;
  Maildrop(store::MailboxId mailbox, std::uint32_t uidvalidity, const store::MessageList& list);

  store::MailboxId mailbox() const { return mailbox_; }
  // Messages in the snapshot, deleted ones included (the highest number).
  std::size_t size() const { return messages_.size(); }
  // STAT: messages and octets not marked deleted.
  std::size_t live_count() const;
  std::uint64_t live_octets() const;

  // A message that is not deleted, by number.
  tl::expected<MaildropMessage*, MessageError> find(std::uint32_t number);
  const MaildropMessage& at(std::uint32_t number) const { return messages_[number - 1]; }

  // RFC 1939 UIDL: stable across sessions, 0x21..0x7E, at most 70 octets.
  std::string unique_id(std::uint32_t number) const;

  void reset_deletions();
  // UIDs for UPDATE.
  store::UidSet deleted_uids() const;
  store::UidSet seen_uids() const;  // retrieved and not deleted
  std::size_t deleted_count() const;

 private:
  store::MailboxId mailbox_ = 0;
  std::uint32_t uidvalidity_ = 0;
  std::vector<MaildropMessage> messages_;
};

}  // namespace postern::node::pop3
