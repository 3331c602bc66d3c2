// The account index: one SQLite database per account, <account>/index.sqlite.
//
// Durability: journal_mode=WAL with synchronous=FULL. In WAL mode FULL fsyncs
// the WAL at every COMMIT, so a transaction is durable when COMMIT returns, which
// is our rule ("a commit is durable when the API returns"). NORMAL would sync
// only at checkpoints: a power cut could lose commits already acknowledged to a
// client (an APPEND's OK, an SMTP 250). SQLite fsyncs the directory when it
// creates the WAL; the caller fsyncs the account directory after creating the
// database file itself.
//
// Versioning: PRAGMA user_version holds kSchemaVersion. 0 = new file (the
// schema is created); older versions are migrated step by step in one
// transaction; a newer version is refused (Corrupt) rather than misread.
//
// Tables (see schema.cpp for the DDL):
//   account       one row: the account's modseq counter, last UIDVALIDITY, bytes used
//   mailbox       id (never reused), name, selectable, special-use, UIDVALIDITY,
//                 UIDNEXT, HIGHESTMODSEQ, first UID not yet claimed as \Recent
//   subscription  names (RFC 3501: kept when the mailbox goes away)
//   keyword       per mailbox: bit -> name (at most kMaxKeywordsPerMailbox)
//   message       (mailbox_id, uid) -> flags, keyword mask, date, size, modseq, file
//   message_meta  file -> the caller's cached strings
//   expunged      (mailbox_id, modseq, uid): the expunge log for other sessions
#pragma once

#include <string>

#include "backend/store/sqlite_db.hpp"

namespace postern::node::store {

constexpr int kSchemaVersion = 1;

struct OpenedIndex {
  Database db;
  bool created = false;  // the schema was just created (a new account)
};

// Opens or creates the index at `path`, sets the pragmas and brings the schema
// to kSchemaVersion. Blocking.
StoreResult<OpenedIndex> open_index(const std::string& path);

}  // namespace postern::node::store
