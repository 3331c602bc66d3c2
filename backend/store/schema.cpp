#include "backend/store/schema.hpp"

#include <sqlite3.h>

#include "core/log.hpp"

namespace postern::node::store {

namespace {

// Other processes (posternctl deliver next to the node, two nodes sharing a
// store during a move) commit to the same index: a writer waits this long for
// the write lock, then gives up with Busy (temporary: the client retries).
constexpr int kBusyTimeoutMs = 5000;

// Version 1. Integers are SQLite's 64-bit; the keyword mask is a uint64 stored
// bit-for-bit in an int64. `message` is WITHOUT ROWID so that a mailbox's rows
// are contiguous in uid order: list() is one range scan. The cached strings
// live apart so that those rows stay small.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE account (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  modseq INTEGER NOT NULL,
  last_uidvalidity INTEGER NOT NULL,
  used_bytes INTEGER NOT NULL
);
INSERT INTO account (id, modseq, last_uidvalidity, used_bytes) VALUES (1, 1, 0, 0);
CREATE TABLE mailbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  selectable INTEGER NOT NULL,
  special_use TEXT NOT NULL,
  uidvalidity INTEGER NOT NULL,
  uidnext INTEGER NOT NULL,
  highest_modseq INTEGER NOT NULL,
  first_recent_uid INTEGER NOT NULL
);
CREATE TABLE subscription (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE keyword (
  mailbox_id INTEGER NOT NULL,
  bit INTEGER NOT NULL,
  name TEXT NOT NULL COLLATE NOCASE,
  PRIMARY KEY (mailbox_id, bit),
  UNIQUE (mailbox_id, name)
) WITHOUT ROWID;
CREATE TABLE message (
  mailbox_id INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  keywords INTEGER NOT NULL,
  internal_date INTEGER NOT NULL,
  zone INTEGER NOT NULL,
  size INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  file TEXT NOT NULL UNIQUE,
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX message_by_modseq ON message (mailbox_id, modseq);
CREATE TABLE message_meta (
  file TEXT PRIMARY KEY,
  structure BLOB NOT NULL,
  envelope BLOB NOT NULL,
  extra BLOB NOT NULL
);
CREATE TABLE expunged (
  mailbox_id INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, modseq, uid)
) WITHOUT ROWID;
CREATE TRIGGER message_added AFTER INSERT ON message BEGIN
  UPDATE account SET used_bytes = used_bytes + NEW.size WHERE id = 1;
END;
CREATE TRIGGER message_removed AFTER DELETE ON message BEGIN
  UPDATE account SET used_bytes = used_bytes - OLD.size WHERE id = 1;
END;
PRAGMA user_version = 1;
)sql";

StoreResult<void> set_pragmas(Database& db) {
  sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs);
  auto mode = db.prepare("PRAGMA journal_mode = WAL");
  if (!mode) return fail(mode.error());
  auto row = mode->step();
  if (!row) return fail(row.error());
  if (!*row || mode->column_text(0) != "wal") {
    core::log_error("store_no_wal").kv("mode", *row ? mode->column_text(0) : "");
    return fail(StoreError::Io);
  }
  // Keep the -wal and -shm files when the last connection closes (their
  // content is checkpointed all the same). Otherwise every session that
  // opens and closes an account (a login, a logout) creates and deletes two
  // files, and file churn is what ext4 charges most for: its scan of
  // recently deleted inodes on each create was most of a node's CPU per
  // login through the proxy.
  int persist = 1;
  sqlite3_file_control(db.handle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  return db.exec("PRAGMA synchronous = FULL");
}

}  // namespace

StoreResult<OpenedIndex> open_index(const std::string& path) {
  auto db = Database::open(path);
  if (!db) return fail(db.error());
  if (auto ok = set_pragmas(*db); !ok) return fail(ok.error());
  auto version = db->query_int("PRAGMA user_version");
  if (!version) return fail(version.error());
  if (*version == kSchemaVersion) return OpenedIndex{std::move(*db), false};
  if (*version != 0) {
    core::log_error("store_schema_unknown").kv("path", path).kv("version", *version);
    return fail(StoreError::Corrupt);
  }
  auto tx = Transaction::begin(*db);
  if (!tx) return fail(tx.error());
  // Another process may have created the schema while we waited for the
  // write lock: look again, inside the transaction.
  auto again = db->query_int("PRAGMA user_version");
  if (!again) return fail(again.error());
  if (*again == kSchemaVersion) {
    if (auto ok = tx->commit(); !ok) return fail(ok.error());  // before the move
    return OpenedIndex{std::move(*db), false};
  }
  if (auto ok = db->exec(kSchemaV1); !ok) return fail(ok.error());
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  return OpenedIndex{std::move(*db), true};
}

}  // namespace postern::node::store
