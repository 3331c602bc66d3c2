// AccountStore: COPY (hard links) and MOVE (rows only), with UIDPLUS mappings.
#include "backend/store/account_store.hpp"
#include "backend/store/keyword_table.hpp"
#include "backend/store/mailbox_rows.hpp"
#include "backend/store/message_rows.hpp"
#include "core/log.hpp"

namespace postern::node::store {

StoreResult<CopyResult> AccountStore::copy(MailboxId from, const UidSet& uids, MailboxId to) {
  // 1. What to copy, under the lock.
  std::vector<StoredMessage> sources;
  {
    std::lock_guard lock(mutex_);
    if (auto src = selectable_mailbox(db_, from); !src) return fail(src.error());
    if (auto dst = selectable_mailbox(db_, to); !dst) return fail(dst.error());
    auto found = select_messages(db_, from, uids);
    if (!found) return fail(found.error());
    sources = std::move(*found);
  }
  // 2. New links, one shard, one directory fsync; no lock. A message expunged
  //    meanwhile is skipped, as if the COPY had come after the EXPUNGE.
  std::vector<StoredMessage> copied;
  std::vector<std::string> names;
  for (StoredMessage& m : sources) {
    auto name = names.empty() ? files_.new_name() : files_.new_name_like(names.front());
    if (!name) {
      remove_files(names);
      return fail(name.error());
    }
    auto linked = files_.link(m.file, *name);
    if (!linked && linked.error() == StoreError::NoSuchMessage) continue;
    if (!linked) {
      remove_files(names);
      return fail(linked.error());
    }
    names.push_back(std::move(*name));
    copied.push_back(std::move(m));
  }
  if (auto synced = files_.sync_shards(names); !synced) {
    remove_files(names);
    return fail(synced.error());
  }
  // 3. The rows.
  auto result = commit_copies(from, to, copied, names);
  if (!result) {
    remove_files(names);
    return fail(result.error());
  }
  core::log_debug("store_copy")
      .kv("account", address_)
      .kv("from", from)
      .kv("to", to)
      .kv("count", result->uids.size());
  return result;
}

StoreResult<CopyResult> AccountStore::commit_copies(MailboxId from, MailboxId to,
                                                    std::span<const StoredMessage> copied,
                                                    std::span<const std::string> names) {
  std::lock_guard lock(mutex_);
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  auto dst = selectable_mailbox(db_, to);
  if (!dst) return fail(dst.error());
  CopyResult result;
  result.uidvalidity = dst->uidvalidity;
  if (copied.empty()) return result;
  std::uint64_t bytes = 0;
  for (const StoredMessage& m : copied) bytes += m.info.size;
  if (auto ok = check_quota(db_, options_.quota_bytes, bytes); !ok) return fail(ok.error());
  auto src_keywords = KeywordTable::load(db_, from);
  if (!src_keywords) return fail(src_keywords.error());
  auto dst_keywords = KeywordTable::load(db_, to);
  if (!dst_keywords) return fail(dst_keywords.error());
  auto modseq = next_modseq(db_);
  if (!modseq) return fail(modseq.error());
  for (std::size_t i = 0; i < copied.size(); ++i) {
    MessageInfo info = copied[i].info;
    auto uid = take_uid(*dst);
    if (!uid) return fail(uid.error());
    auto keywords = dst_keywords->translate(db_, info.keywords, *src_keywords);
    if (!keywords) return fail(keywords.error());
    info.uid = *uid;
    info.keywords = *keywords;
    info.modseq = *modseq;
    if (auto ok = insert_message(db_, to, info, names[i]); !ok) return fail(ok.error());
    if (auto ok = copy_meta(db_, copied[i].file, names[i]); !ok) return fail(ok.error());
    result.uids.push_back(UidMapping{copied[i].info.uid, *uid});
  }
  dst->highest_modseq = *modseq;
  if (auto ok = update_mailbox_counters(db_, *dst); !ok) return fail(ok.error());
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  return result;
}

StoreResult<CopyResult> AccountStore::move(MailboxId from, const UidSet& uids, MailboxId to) {
  std::lock_guard lock(mutex_);
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  auto src = selectable_mailbox(db_, from);
  if (!src) return fail(src.error());
  auto dst = selectable_mailbox(db_, to);
  if (!dst) return fail(dst.error());
  CopyResult result;
  result.uidvalidity = dst->uidvalidity;
  auto messages = select_messages(db_, from, uids);
  if (!messages) return fail(messages.error());
  if (messages->empty()) return result;
  auto modseq = next_modseq(db_);
  if (!modseq) return fail(modseq.error());
  auto mapping = move_rows(db_, *src, *dst, *messages, *modseq);
  if (!mapping) return fail(mapping.error());
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  result.uids = std::move(*mapping);
  core::log_debug("store_move")
      .kv("account", address_)
      .kv("from", from)
      .kv("to", to)
      .kv("count", result.uids.size());
  return result;
}

}  // namespace postern::node::store
