// AccountStore: STORE (with CONDSTORE's UNCHANGEDSINCE) and EXPUNGE.
#include "backend/store/account_store.hpp"
#include "backend/store/keyword_table.hpp"
#include "backend/store/mailbox_rows.hpp"
#include "backend/store/message_rows.hpp"
#include "core/log.hpp"

namespace postern::node::store {

namespace {

template <class Bits>
Bits apply_mode(Bits old_bits, Bits bits, FlagMode mode) {
  switch (mode) {
    case FlagMode::Add:
      return static_cast<Bits>(old_bits | bits);
    case FlagMode::Remove:
      return static_cast<Bits>(old_bits & ~bits);
    case FlagMode::Replace:
      return bits;
  }
  return old_bits;
}

}  // namespace

StoreResult<FlagUpdate> AccountStore::store_flags(MailboxId mailbox, const UidSet& uids,
                                                  FlagMode mode, FlagBits flags,
                                                  std::span<const std::string> keywords,
                                                  std::optional<ModSeq> unchanged_since) {
  if ((flags & ~kSystemFlagsMask) != 0) return fail(StoreError::BadArgument);
  std::lock_guard lock(mutex_);
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  auto row = selectable_mailbox(db_, mailbox);
  if (!row) return fail(row.error());
  auto table = KeywordTable::load(db_, mailbox);
  if (!table) return fail(table.error());
  // Removing a keyword the mailbox never knew is a no-op, not a new bit.
  auto mask = table->mask_for(db_, keywords, mode != FlagMode::Remove);
  if (!mask) return fail(mask.error());
  auto messages = select_messages(db_, mailbox, uids);
  if (!messages) return fail(messages.error());

  FlagUpdate update;
  update.messages.messages.reserve(messages->size());
  for (const StoredMessage& m : *messages) {
    MessageInfo info = m.info;
    if (unchanged_since && info.modseq > *unchanged_since) {
      update.modified.push_back(info.uid);
      continue;
    }
    FlagBits new_flags = apply_mode<FlagBits>(info.flags, flags, mode);
    std::uint64_t new_keywords = apply_mode<std::uint64_t>(info.keywords, *mask, mode);
    if (new_flags != info.flags || new_keywords != info.keywords) {
      if (update.modseq == 0) {
        auto next = next_modseq(db_);
        if (!next) return fail(next.error());
        update.modseq = *next;
      }
      auto st = db_.prepare(
          "UPDATE message SET flags = ?3, keywords = ?4, modseq = ?5 "
          "WHERE mailbox_id = ?1 AND uid = ?2");
      if (!st) return fail(st.error());
      st->bind(1, mailbox)
          .bind(2, info.uid)
          .bind(3, new_flags)
          .bind(4, static_cast<std::int64_t>(new_keywords))
          .bind(5, static_cast<std::int64_t>(update.modseq));
      if (auto ok = st->run(); !ok) return fail(ok.error());
      info.flags = new_flags;
      info.keywords = new_keywords;
      info.modseq = update.modseq;
    }
    update.messages.messages.push_back(info);
  }
  if (update.modseq != 0) {
    row->highest_modseq = update.modseq;
    if (auto ok = update_mailbox_counters(db_, *row); !ok) return fail(ok.error());
  }
  // Also commits keywords added to the table even if no message changed.
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  update.messages.keyword_names = table->names();
  return update;
}

StoreResult<std::vector<Uid>> AccountStore::expunge(MailboxId mailbox,
                                                    const std::optional<UidSet>& uids) {
  std::vector<Uid> expunged;
  std::vector<std::string> files;
  {
    std::lock_guard lock(mutex_);
    auto tx = Transaction::begin(db_);
    if (!tx) return fail(tx.error());
    auto row = selectable_mailbox(db_, mailbox);
    if (!row) return fail(row.error());
    auto messages = select_messages(db_, mailbox, uids ? *uids : kAllUids, true);
    if (!messages) return fail(messages.error());
    if (messages->empty()) return expunged;
    auto modseq = next_modseq(db_);
    if (!modseq) return fail(modseq.error());
    expunged.reserve(messages->size());
    files.reserve(messages->size());
    for (StoredMessage& m : *messages) {
      if (auto ok = expunge_row(db_, mailbox, m.info.uid, m.file, *modseq); !ok) {
        return fail(ok.error());
      }
      expunged.push_back(m.info.uid);
      files.push_back(std::move(m.file));
    }
    row->highest_modseq = *modseq;
    if (auto ok = update_mailbox_counters(db_, *row); !ok) return fail(ok.error());
    if (auto ok = tx->commit(); !ok) return fail(ok.error());
  }
  // After the commit and outside the lock: a crash before this leaves orphan
  // files, which the next open removes.
  remove_files(files);
  core::log_debug("store_expunge")
      .kv("account", address_)
      .kv("mailbox", mailbox)
      .kv("count", expunged.size());
  return expunged;
}

}  // namespace postern::node::store
