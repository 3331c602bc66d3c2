// Message-level queries on an account index, shared by the AccountStore
// operations. The caller holds the account's lock and, for writes, an open
// Transaction.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/store/mailbox_rows.hpp"
#include "backend/store/sqlite_db.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::store {

struct StoredMessage {
  MessageInfo info;
  std::string file;
};

// Columns 0..6 of "SELECT uid, flags, keywords, internal_date, zone, size,
// modseq ...".
MessageInfo read_message_info(const Statement& st);

// Every uid.
inline const UidSet kAllUids{UidRange{1, 0xffffffffu}};

// Sorted, merged, ends in order.
UidSet normalize_uid_set(const UidSet& set);

// The messages of `mailbox` with a uid in `uids`, ascending; with
// `deleted_only`, those flagged \Deleted.
StoreResult<std::vector<StoredMessage>> select_messages(Database& db, MailboxId mailbox,
                                                        const UidSet& uids,
                                                        bool deleted_only = false);

// The file name of a message; NoSuchMessage if there is no such row.
StoreResult<std::string> message_file(Database& db, MailboxId mailbox, Uid uid);

// Hands out row.uidnext (Limit when the UID space is exhausted).
StoreResult<Uid> take_uid(MailboxRow& row);

StoreResult<void> insert_message(Database& db, MailboxId mailbox, const MessageInfo& info,
                                 std::string_view file);
StoreResult<void> write_meta(Database& db, std::string_view file, const MessageMeta& meta);
// Empty when nothing is cached.
StoreResult<MessageMeta> read_meta(Database& db, std::string_view file);
StoreResult<void> copy_meta(Database& db, std::string_view from_file, std::string_view to_file);

// Deletes the row and its meta and logs the expunge at `modseq`.
StoreResult<void> expunge_row(Database& db, MailboxId mailbox, Uid uid, std::string_view file,
                              ModSeq modseq);

// Moves rows from `src` to `dst` at `modseq`: new uids in dst, keywords
// re-mapped, expunges logged in src. Updates both rows' counters in memory
// and in the index.
StoreResult<std::vector<UidMapping>> move_rows(Database& db, MailboxRow& src, MailboxRow& dst,
                                               std::span<const StoredMessage> messages,
                                               ModSeq modseq);

// QuotaExceeded if adding `bytes` would pass `quota` (0 = unlimited).
StoreResult<void> check_quota(Database& db, std::uint64_t quota, std::uint64_t bytes);

}  // namespace postern::node::store
