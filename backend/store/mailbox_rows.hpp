// Mailbox-level queries on an account index, shared by the AccountStore
// operations. Every function expects the caller to hold the account's lock
// and, for writes, an open Transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/store/sqlite_db.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::store {

struct MailboxRow {
  MailboxId id = 0;
  std::string name;
  bool selectable = true;
  std::string special_use;
  std::uint32_t uidvalidity = 0;
  Uid uidnext = 1;
  ModSeq highest_modseq = 1;
  Uid first_recent_uid = 1;
};

StoreResult<std::optional<MailboxRow>> find_mailbox_row(Database& db, std::string_view name);
// NoSuchMailbox when the id is unknown.
StoreResult<MailboxRow> mailbox_row(Database& db, MailboxId id);
// As mailbox_row, and NotAllowed for a \Noselect mailbox.
StoreResult<MailboxRow> selectable_mailbox(Database& db, MailboxId id);
StoreResult<std::vector<MailboxRow>> all_mailbox_rows(Database& db);  // by name
StoreResult<bool> has_inferiors(Database& db, std::string_view name);

// The account's next modseq (increments the counter).
StoreResult<ModSeq> next_modseq(Database& db);

// Inserts a mailbox with a fresh UIDVALIDITY (>= now, and above every earlier
// one in the account) and a fresh HIGHESTMODSEQ.
StoreResult<MailboxRow> insert_mailbox(Database& db, std::string_view name, bool selectable,
                                       std::string_view special_use);
// Creates the missing ancestors of `name` as selectable mailboxes (Dovecot's
// reading of RFC 3501 CREATE).
StoreResult<void> create_ancestors(Database& db, std::string_view name);
// Removes \Noselect ancestors of `name` left without inferiors.
StoreResult<void> prune_ancestors(Database& db, std::string_view name);

// Writes uidnext, highest_modseq and first_recent_uid back.
StoreResult<void> update_mailbox_counters(Database& db, const MailboxRow& row);

// Deletes the mailbox row and everything in it (messages, cached meta,
// keywords, expunge log); returns the message file names to unlink after the
// commit.
StoreResult<std::vector<std::string>> delete_mailbox_rows(Database& db, MailboxId id);

}  // namespace postern::node::store
