// AccountStore: the cached metadata of a whole mailbox in one query, for
// SEARCH (and anything else that needs every message's structure at once
// without a query per message).
#include "backend/store/account_store.hpp"
#include "backend/store/mailbox_rows.hpp"

namespace postern::node::store {

StoreResult<std::vector<std::pair<Uid, MessageMeta>>> AccountStore::list_meta(MailboxId mailbox) {
  std::lock_guard lock(mutex_);
  auto snapshot = Transaction::begin_read(db_);
  if (!snapshot) return fail(snapshot.error());
  if (auto row = selectable_mailbox(db_, mailbox); !row) return fail(row.error());
  // LEFT JOIN: a message without a meta row is listed with an empty meta, so
  // the caller knows it exists and must read its file instead.
  auto st = db_.prepare(
      "SELECT message.uid, message_meta.structure FROM message "
      "LEFT JOIN message_meta ON message_meta.file = message.file "
      "WHERE message.mailbox_id = ?1 ORDER BY message.uid");
  if (!st) return fail(st.error());
  st->bind(1, mailbox);
  std::vector<std::pair<Uid, MessageMeta>> out;
  while (true) {
    auto found = st->step();
    if (!found) return fail(found.error());
    if (!*found) return out;
    out.emplace_back(static_cast<Uid>(st->column_int64(0)), MessageMeta{});
    out.back().second.structure = std::string(st->column_blob(1));
  }
}

}  // namespace postern::node::store
