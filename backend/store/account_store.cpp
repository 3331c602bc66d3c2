// AccountStore: opening, reconciliation and the read-only mailbox queries.
// Mailbox, message, flag and copy operations live in account_*.cpp.
#include "backend/store/account_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "backend/store/durable_file.hpp"
#include "backend/store/keyword_table.hpp"
#include "backend/store/mailbox_rows.hpp"
#include "backend/store/message_rows.hpp"
#include "backend/store/schema.hpp"
#include "core/log.hpp"

namespace postern::node::store {

namespace {

struct DefaultMailbox {
  const char* name;
  const char* special_use;
};

constexpr DefaultMailbox kDefaultMailboxes[] = {
    {"INBOX", ""},        {"Sent", "\\Sent"}, {"Drafts", "\\Drafts"},
    {"Trash", "\\Trash"}, {"Junk", "\\Junk"}, {"Archive", "\\Archive"},
};

// Logs at most this many individual reconciliation fixes, then a count.
constexpr std::size_t kMaxLoggedFixes = 20;

// How long an opener waits for another process's reconciliation to finish.
// Reconciling scans the account's files: seconds for a very large account.
constexpr std::chrono::seconds kLockWait{30};

}  // namespace

AccountStore::AccountStore(Key, std::string dir, std::string address, StoreOptions options,
                           UniqueFd lock)
    : dir_(std::move(dir)),
      address_(std::move(address)),
      options_(options),
      lock_(std::move(lock)),
      files_(dir_) {}

AccountStore::~AccountStore() {
  core::log_debug("store_account_close").kv("account", address_);
}

namespace {

// Takes flock(`op`) on `fd`, retrying without blocking the thread forever: an
// exclusive holder is only ever reconciling, which ends; one that does not is
// reported as Busy rather than hanging a worker.
StoreResult<void> wait_for_lock(int fd, int op, const std::string& path,
                                const std::string& address) {
  auto deadline = std::chrono::steady_clock::now() + kLockWait;
  auto pause = std::chrono::milliseconds(2);
  while (::flock(fd, op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return fail(io_error("flock", path, errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      core::log_warn("store_account_busy").kv("account", address).kv("lock", path);
      return fail(StoreError::Busy);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  return {};
}

}  // namespace

StoreResult<std::shared_ptr<AccountStore>> AccountStore::open(std::string dir, std::string address,
                                                              StoreOptions options) {
  if (auto made = make_directory(dir); !made) return fail(made.error());
  std::string lock_path = dir + "/lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return fail(io_error("open", lock_path, errno));
  // Alone with the account: create it if new, then reconcile. Otherwise other
  // processes are using it (their appends in flight look like orphan files),
  // so wait for a shared lock and trust the index as it is.
  bool exclusive = ::flock(lock.get(), LOCK_EX | LOCK_NB) == 0;
  if (!exclusive) {
    if (errno != EWOULDBLOCK) return fail(io_error("flock", lock_path, errno));
    if (auto ok = wait_for_lock(lock.get(), LOCK_SH, lock_path, address); !ok)
      return fail(ok.error());
  }
  int lock_fd = lock.get();
  auto store = std::make_shared<AccountStore>(Key{}, std::move(dir), std::move(address), options,
                                              std::move(lock));
  if (auto ok = store->files_.prepare(exclusive); !ok) return fail(ok.error());
  if (auto ok = store->prepare_index(); !ok) return fail(ok.error());
  if (exclusive) {
    if (auto ok = store->reconcile(); !ok) return fail(ok.error());
    // Not atomic (flock(2)): another opener may take LOCK_EX in between and
    // reconcile; we then wait for it, before touching anything.
    if (auto ok = wait_for_lock(lock_fd, LOCK_SH, lock_path, store->address_); !ok)
      return fail(ok.error());
  } else {
    core::log_info("store_account_open")
        .kv("account", store->address_)
        .kv("shared", 1)
        .kv("reconciled", 0);
  }
  return store;
}

StoreResult<void> AccountStore::prepare_index() {
  auto index = open_index(dir_ + "/index.sqlite");
  if (!index) return fail(index.error());
  db_ = std::move(index->db);
  if (index->created) {
    // SQLite syncs the directory for its WAL, not for the main file it creates.
    if (auto ok = sync_directory(dir_); !ok) return ok;
  }
  auto count = db_.query_int("SELECT count(*) FROM mailbox");
  if (!count) return fail(count.error());
  // Also repairs a crash between creating the schema and the mailboxes.
  if (*count == 0) return create_default_mailboxes();
  return {};
}

StoreResult<void> AccountStore::create_default_mailboxes() {
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  // Another process may have got there first.
  auto count = db_.query_int("SELECT count(*) FROM mailbox");
  if (!count) return fail(count.error());
  if (*count != 0) return tx->commit();
  for (const DefaultMailbox& m : kDefaultMailboxes) {
    if (auto row = insert_mailbox(db_, m.name, true, m.special_use); !row) return fail(row.error());
    auto sub = db_.prepare("INSERT OR IGNORE INTO subscription (name) VALUES (?1)");
    if (!sub) return fail(sub.error());
    sub->bind_text(1, m.name);
    if (auto ok = sub->run(); !ok) return ok;
  }
  if (auto ok = tx->commit(); !ok) return ok;
  core::log_info("store_account_created").kv("account", address_).kv("dir", dir_);
  return {};
}

namespace {

struct RowRef {
  MailboxId mailbox;
  Uid uid;
  std::uint64_t size;
  bool present = false;  // the file exists but is not `size` bytes long
};
using FileRows = std::unordered_map<std::string, RowRef>;

StoreResult<FileRows> load_file_rows(Database& db) {
  auto st = db.prepare("SELECT mailbox_id, uid, file, size FROM message");
  if (!st) return fail(st.error());
  FileRows rows;
  while (true) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) return rows;
    rows.emplace(std::string(st->column_text(2)),
                 RowRef{st->column_int64(0), static_cast<Uid>(st->column_int64(1)),
                        static_cast<std::uint64_t>(st->column_int64(3))});
  }
}

// Deletes the files without a row (written but never committed, so never
// acknowledged) and takes the sound files out of `rows`: what is left there
// are rows whose file is missing, or short (a batch append's rows reached
// the disk, its files' data did not: never acknowledged either, see
// DURABILITY). Returns the number of files deleted.
std::size_t remove_orphans(const MessageDir& files, const std::vector<std::string>& on_disk,
                           FileRows& rows) {
  std::size_t orphans = 0;
  for (const std::string& name : on_disk) {
    auto row = rows.find(name);
    if (row != rows.end()) {
      struct stat st {};
      std::string path = files.path(name);
      if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) io_error("stat", path, errno);
        continue;  // treated as missing
      }
      if (static_cast<std::uint64_t>(st.st_size) == row->second.size) {
        rows.erase(row);
      } else {
        row->second.present = true;
      }
      continue;
    }
    if (orphans++ < kMaxLoggedFixes) core::log_warn("store_orphan_file").kv("file", name);
    files.remove(name);
  }
  return orphans;
}

// Expunges the rows whose file is gone or incomplete, at one new modseq, so
// that sessions see EXPUNGEs rather than failing FETCHes.
StoreResult<void> expunge_missing(Database& db, const FileRows& missing,
                                  const std::string& address) {
  if (missing.empty()) return {};
  auto modseq = next_modseq(db);
  if (!modseq) return fail(modseq.error());
  std::unordered_set<MailboxId> touched;
  std::size_t logged = 0;
  for (const auto& [file, ref] : missing) {
    if (logged++ < kMaxLoggedFixes) {
      core::log_error(ref.present ? "store_short_file" : "store_missing_file")
          .kv("account", address)
          .kv("mailbox", ref.mailbox)
          .kv("uid", ref.uid)
          .kv("size", ref.size)
          .kv("file", file);
    }
    if (auto ok = expunge_row(db, ref.mailbox, ref.uid, file, *modseq); !ok) return ok;
    touched.insert(ref.mailbox);
  }
  for (MailboxId mailbox : touched) {
    auto st = db.prepare("UPDATE mailbox SET highest_modseq = ?2 WHERE id = ?1");
    if (!st) return fail(st.error());
    st->bind(1, mailbox).bind(2, static_cast<std::int64_t>(*modseq));
    if (auto ok = st->run(); !ok) return ok;
  }
  return {};
}

}  // namespace

StoreResult<void> AccountStore::reconcile() {
  auto on_disk = files_.scan();
  if (!on_disk) return fail(on_disk.error());
  auto rows = load_file_rows(db_);
  if (!rows) return fail(rows.error());
  std::size_t total = rows->size();
  std::size_t orphans = remove_orphans(files_, *on_disk, *rows);
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  if (auto ok = expunge_missing(db_, *rows, address_); !ok) return ok;
  if (auto ok = db_.exec("DELETE FROM message_meta WHERE file NOT IN (SELECT file FROM message)");
      !ok) {
    return ok;
  }
  if (auto ok = tx->commit(); !ok) return ok;
  // Short files go after the commit that removed their rows (see DURABILITY).
  std::size_t short_files = 0;
  for (const auto& [file, ref] : *rows) {
    if (!ref.present) continue;
    files_.remove(file);
    ++short_files;
  }
  core::log_info("store_account_open")
      .kv("account", address_)
      .kv("messages", total - rows->size())
      .kv("orphans_removed", orphans)
      .kv("missing_removed", rows->size() - short_files)
      .kv("short_removed", short_files);
  return {};
}

void AccountStore::remove_files(const std::vector<std::string>& names) const {
  for (const std::string& name : names) files_.remove(name);
}

StoreResult<MailboxStatus> AccountStore::status(MailboxId mailbox) {
  std::lock_guard lock(mutex_);
  auto snapshot = Transaction::begin_read(db_);  // counts that match uidnext
  if (!snapshot) return fail(snapshot.error());
  auto row = selectable_mailbox(db_, mailbox);
  if (!row) return fail(row.error());
  auto st = db_.prepare(
      "SELECT count(*), coalesce(sum((flags & 1) = 0), 0), coalesce(sum(uid >= ?2), 0) "
      "FROM message WHERE mailbox_id = ?1");
  if (!st) return fail(st.error());
  st->bind(1, mailbox).bind(2, row->first_recent_uid);
  auto found = st->step();
  if (!found) return fail(found.error());
  MailboxStatus status;
  status.id = row->id;
  status.uidvalidity = row->uidvalidity;
  status.uidnext = row->uidnext;
  status.highest_modseq = row->highest_modseq;
  status.messages = static_cast<std::uint32_t>(st->column_int64(0));
  status.unseen = static_cast<std::uint32_t>(st->column_int64(1));
  status.recent = static_cast<std::uint32_t>(st->column_int64(2));
  return status;
}

StoreResult<RecentRange> AccountStore::claim_recent(MailboxId mailbox) {
  std::lock_guard lock(mutex_);
  // Usually nothing to claim: answer that without the write lock.
  auto peek = selectable_mailbox(db_, mailbox);
  if (!peek) return fail(peek.error());
  if (peek->first_recent_uid >= peek->uidnext) return RecentRange{peek->uidnext, peek->uidnext};
  // Read the row again inside the write transaction: another process may have
  // appended (uidnext) or claimed since the peek.
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  auto row = selectable_mailbox(db_, mailbox);
  if (!row) return fail(row.error());
  RecentRange range{row->first_recent_uid, row->uidnext};
  if (range.first >= range.end) return RecentRange{row->uidnext, row->uidnext};
  row->first_recent_uid = row->uidnext;
  if (auto ok = update_mailbox_counters(db_, *row); !ok) return fail(ok.error());
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  return range;
}

StoreResult<Changes> AccountStore::changes_since(MailboxId mailbox, ModSeq since) {
  std::lock_guard lock(mutex_);
  // One snapshot: nothing newer than highest_modseq, every keyword bit named.
  auto snapshot = Transaction::begin_read(db_);
  if (!snapshot) return fail(snapshot.error());
  auto row = selectable_mailbox(db_, mailbox);
  if (!row) return fail(row.error());
  Changes changes;
  changes.highest_modseq = row->highest_modseq;
  changes.uidnext = row->uidnext;
  if (since >= row->highest_modseq) return changes;
  auto keywords = KeywordTable::load(db_, mailbox);
  if (!keywords) return fail(keywords.error());
  changes.changed.keyword_names = keywords->names();
  auto st = db_.prepare(
      "SELECT uid, flags, keywords, internal_date, zone, size, modseq FROM message "
      "WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid");
  if (!st) return fail(st.error());
  st->bind(1, mailbox).bind(2, static_cast<std::int64_t>(since));
  while (true) {
    auto found = st->step();
    if (!found) return fail(found.error());
    if (!*found) break;
    changes.changed.messages.push_back(read_message_info(*st));
  }
  auto gone =
      db_.prepare("SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid");
  if (!gone) return fail(gone.error());
  gone->bind(1, mailbox).bind(2, static_cast<std::int64_t>(since));
  while (true) {
    auto found = gone->step();
    if (!found) return fail(found.error());
    if (!*found) break;
    changes.expunged.push_back(static_cast<Uid>(gone->column_int64(0)));
  }
  return changes;
}

StoreResult<Usage> AccountStore::usage() {
  std::lock_guard lock(mutex_);
  auto used = db_.query_int("SELECT used_bytes FROM account WHERE id = 1");
  if (!used) return fail(used.error());
  return Usage{static_cast<std::uint64_t>(*used), options_.quota_bytes};
}

}  // namespace postern::node::store
