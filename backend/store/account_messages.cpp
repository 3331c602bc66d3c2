// AccountStore: adding and reading messages (APPEND, FETCH's needs).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "backend/store/account_store.hpp"
#include "backend/store/durable_file.hpp"
#include "backend/store/keyword_table.hpp"
#include "backend/store/mailbox_rows.hpp"
#include "backend/store/message_rows.hpp"
#include "core/log.hpp"

namespace postern::node::store {

namespace {

bool is_empty(const MessageMeta& meta) {
  return meta.structure.empty() && meta.envelope.empty() && meta.extra.empty();
}

bool is_valid(const NewMessage& m) {
  if ((m.flags & ~kSystemFlagsMask) != 0) return false;
  for (const std::string& keyword : m.keywords) {
    if (!is_valid_keyword(keyword)) return false;
  }
  return true;
}

}  // namespace

StoreResult<AppendResult> AccountStore::append(MailboxId mailbox, const NewMessage& message) {
  auto results = append_batch(mailbox, std::span<const NewMessage>(&message, 1));
  if (!results) return fail(results.error());
  return results->front();
}

StoreResult<std::vector<AppendResult>> AccountStore::append_batch(
    MailboxId mailbox, std::span<const NewMessage> messages) {
  if (messages.empty()) return std::vector<AppendResult>();
  std::uint64_t bytes = 0;
  for (const NewMessage& m : messages) {
    if (!is_valid(m)) return fail(StoreError::BadArgument);
    bytes += m.size;
  }
  {
    // Fail fast (APPEND's [TRYCREATE], [OVERQUOTA]) before any file work;
    // commit_appends checks again.
    std::lock_guard lock(mutex_);
    if (auto row = selectable_mailbox(db_, mailbox); !row) return fail(row.error());
    if (auto ok = check_quota(db_, options_.quota_bytes, bytes); !ok) return fail(ok.error());
  }
  // DURABILITY (account_store.hpp): Ordered syncs each step before the next;
  // Batch syncs nothing until step 3 has committed, then everything at once.
  const bool batch = options_.sync_mode == SyncMode::Batch;
  const auto sync = batch ? MessageDir::Sync::Later : MessageDir::Sync::Each;
  // 1. Each file: fsync (Ordered), then link (or copy) under its new name.
  //    No lock held.
  std::vector<std::string> names;
  names.reserve(messages.size());
  for (const NewMessage& m : messages) {
    auto name = names.empty() ? files_.new_name(sync) : files_.new_name_like(names.front(), sync);
    if (!name) {
      remove_files(names);
      return fail(name.error());
    }
    if (auto placed = files_.place(m.source_path, m.size, *name, sync); !placed) {
      remove_files(names);
      return fail(placed.error());
    }
    names.push_back(std::move(*name));
  }
  // 2. The directory entries (one shard: one fsync). Ordered only.
  if (!batch) {
    if (auto synced = files_.sync_shards(names); !synced) {
      remove_files(names);
      return fail(synced.error());
    }
  }
  // 3. The rows, in one transaction: durable when it returns (Ordered), or
  //    in the OS only (Batch).
  auto results = commit_appends(mailbox, messages, names, batch);
  if (!results) {
    remove_files(names);
    return fail(results.error());
  }
  // 3b. Batch: one syncfs(2) makes the files' data, their directory entries
  //     and the WAL durable together (one journal commit). If it fails the
  //     rows stay (others may have seen them) but nothing is acknowledged;
  //     reconciliation drops what a crash then leaves incomplete.
  if (batch) {
    if (auto synced = sync_filesystem(lock_.get(), dir_); !synced) return fail(synced.error());
  }
  // 4. The caller's names. Not synced: if this is lost in a crash the caller
  //    finds its own spool file again and cleans up as it would anyway.
  for (const NewMessage& m : messages) {
    if (m.source_mode == SourceMode::Move && ::unlink(m.source_path.c_str()) != 0 &&
        errno != ENOENT) {
      io_error("unlink", m.source_path, errno);
    }
  }
  core::log_debug("store_append")
      .kv("account", address_)
      .kv("mailbox", mailbox)
      .kv("count", messages.size())
      .kv("first_uid", results->front().uid);
  return results;
}

StoreResult<std::vector<AppendResult>> AccountStore::commit_appends(
    MailboxId mailbox, std::span<const NewMessage> messages, std::span<const std::string> names,
    bool deferred_sync) {
  std::lock_guard lock(mutex_);
  // synchronous=NORMAL for this transaction only: the WAL is written but not
  // fsynced at commit; the caller's syncfs does it. Back to FULL on every
  // path (the guard is declared before the transaction, so it runs after the
  // commit or rollback).
  std::optional<RelaxedSync> relaxed;
  if (deferred_sync) {
    relaxed.emplace(db_);
    if (!relaxed->ok()) return fail(StoreError::Io);
  }
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  auto row = selectable_mailbox(db_, mailbox);
  if (!row) return fail(row.error());
  std::uint64_t bytes = 0;
  for (const NewMessage& m : messages) bytes += m.size;
  if (auto ok = check_quota(db_, options_.quota_bytes, bytes); !ok) return fail(ok.error());
  auto keywords = KeywordTable::load(db_, mailbox);
  if (!keywords) return fail(keywords.error());
  auto modseq = next_modseq(db_);
  if (!modseq) return fail(modseq.error());
  std::vector<AppendResult> results;
  results.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const NewMessage& m = messages[i];
    auto uid = take_uid(*row);
    if (!uid) return fail(uid.error());
    auto mask = keywords->mask_for(db_, m.keywords, true);
    if (!mask) return fail(mask.error());
    MessageInfo info;
    info.uid = *uid;
    info.flags = m.flags;
    info.zone_minutes = m.internal_date.zone_minutes;
    info.keywords = *mask;
    info.internal_date = m.internal_date.seconds;
    info.size = m.size;
    info.modseq = *modseq;
    if (auto ok = insert_message(db_, mailbox, info, names[i]); !ok) return fail(ok.error());
    if (!is_empty(m.meta)) {
      if (auto ok = write_meta(db_, names[i], m.meta); !ok) return fail(ok.error());
    }
    results.push_back(AppendResult{row->uidvalidity, *uid, *modseq});
  }
  row->highest_modseq = *modseq;
  if (auto ok = update_mailbox_counters(db_, *row); !ok) return fail(ok.error());
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  return results;
}

StoreResult<MessageList> AccountStore::list(MailboxId mailbox) {
  std::lock_guard lock(mutex_);
  // One snapshot: every keyword bit of the rows is in the table we return.
  auto snapshot = Transaction::begin_read(db_);
  if (!snapshot) return fail(snapshot.error());
  auto row = selectable_mailbox(db_, mailbox);
  if (!row) return fail(row.error());
  auto keywords = KeywordTable::load(db_, mailbox);
  if (!keywords) return fail(keywords.error());
  MessageList out;
  out.keyword_names = keywords->names();
  auto st = db_.prepare(
      "SELECT uid, flags, keywords, internal_date, zone, size, modseq FROM message "
      "WHERE mailbox_id = ?1 ORDER BY uid");
  if (!st) return fail(st.error());
  st->bind(1, mailbox);
  while (true) {
    auto found = st->step();
    if (!found) return fail(found.error());
    if (!*found) return out;
    out.messages.push_back(read_message_info(*st));
  }
}

StoreResult<MessageMeta> AccountStore::meta(MailboxId mailbox, Uid uid) {
  std::lock_guard lock(mutex_);
  auto snapshot = Transaction::begin_read(db_);
  if (!snapshot) return fail(snapshot.error());
  if (auto row = selectable_mailbox(db_, mailbox); !row) return fail(row.error());
  auto file = message_file(db_, mailbox, uid);
  if (!file) return fail(file.error());
  return read_meta(db_, *file);
}

StoreResult<void> AccountStore::set_meta(MailboxId mailbox, Uid uid, const MessageMeta& meta) {
  std::lock_guard lock(mutex_);
  // In one transaction: no meta row for a message another process expunged
  // between the look-up and the write.
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  if (auto row = selectable_mailbox(db_, mailbox); !row) return fail(row.error());
  auto file = message_file(db_, mailbox, uid);
  if (!file) return fail(file.error());
  if (auto ok = write_meta(db_, *file, meta); !ok) return ok;
  return tx->commit();
}

StoreResult<MessageFile> AccountStore::open_message(MailboxId mailbox, Uid uid) {
  // Within this process the mutex makes "row visible => file present" hold (a
  // file is unlinked after the expunge commits). Another process may expunge
  // and unlink between our look-up and open(): then the row is gone too when
  // we look again, and the message simply no longer exists.
  std::lock_guard lock(mutex_);
  if (auto row = selectable_mailbox(db_, mailbox); !row) return fail(row.error());
  auto file = message_file(db_, mailbox, uid);
  if (!file) return fail(file.error());
  std::string path = files_.path(*file);
  MessageFile out;
  out.fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!out.fd) {
    int err = errno;
    if (err == ENOENT) {
      auto again = message_file(db_, mailbox, uid);
      if (!again) return fail(again.error());  // NoSuchMessage: expunged meanwhile
    }
    StoreError e = io_error("open", path, err);
    return fail(err == ENOENT ? StoreError::Corrupt : e);
  }
  struct stat st {};
  if (::fstat(out.fd.get(), &st) != 0) return fail(io_error("fstat", path, errno));
  out.size = static_cast<std::uint64_t>(st.st_size);
  return out;
}

}  // namespace postern::node::store
