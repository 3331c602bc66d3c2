// AccountStore: mailbox operations (RFC 3501 CREATE, DELETE, RENAME, LIST,
// SUBSCRIBE, UNSUBSCRIBE, LSUB).
#include <set>

#include "backend/store/account_store.hpp"
#include "backend/store/mailbox_name.hpp"
#include "backend/store/mailbox_rows.hpp"
#include "backend/store/message_rows.hpp"
#include "core/log.hpp"

namespace postern::node::store {

namespace {

constexpr std::string_view kInbox = "INBOX";

MailboxInfo to_info(const MailboxRow& row) {
  MailboxInfo info;
  info.id = row.id;
  info.name = row.name;
  info.special_use = row.special_use;
  info.uidvalidity = row.uidvalidity;
  info.selectable = row.selectable;
  return info;
}

StoreResult<bool> is_subscribed(Database& db, std::string_view name) {
  auto st = db.prepare("SELECT 1 FROM subscription WHERE name = ?1");
  if (!st) return fail(st.error());
  st->bind_text(1, name);
  return st->step();
}

// Renames `from` and its inferiors (names or subscriptions) to `to`.
StoreResult<void> rename_subtree(Database& db, const char* sql, std::string_view from,
                                 std::string_view to) {
  auto st = db.prepare(sql);
  if (!st) return fail(st.error());
  st->bind_text(1, from)
      .bind_text(2, to)
      .bind(3, static_cast<std::int64_t>(from.size()) + 1)
      .bind_text(4, inferiors_begin(from))
      .bind_text(5, inferiors_end(from));
  return st->run();
}

}  // namespace

StoreResult<MailboxInfo> AccountStore::create_mailbox(std::string_view raw_name) {
  auto name = normalize_mailbox_name(raw_name);
  if (!name) return fail(name.error());
  if (*name == kInbox) return fail(StoreError::AlreadyExists);
  std::lock_guard lock(mutex_);
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  auto existing = find_mailbox_row(db_, *name);
  if (!existing) return fail(existing.error());
  if (*existing) {
    if ((*existing)->selectable) return fail(StoreError::AlreadyExists);
    // A \Noselect placeholder becomes a real mailbox; a new id, since
    // sessions may still hold the old one.
    auto files = delete_mailbox_rows(db_, (*existing)->id);
    if (!files) return fail(files.error());
  }
  if (auto ok = create_ancestors(db_, *name); !ok) return fail(ok.error());
  auto row = insert_mailbox(db_, *name, true, "");
  if (!row) return fail(row.error());
  auto subscribed = is_subscribed(db_, *name);
  if (!subscribed) return fail(subscribed.error());
  if (auto ok = tx->commit(); !ok) return fail(ok.error());
  core::log_info("store_mailbox_create").kv("account", address_).kv("mailbox", *name);
  MailboxInfo info = to_info(*row);
  info.subscribed = *subscribed;
  return info;
}

StoreResult<void> AccountStore::delete_mailbox(std::string_view raw_name) {
  auto name = normalize_mailbox_name(raw_name);
  if (!name) return fail(name.error());
  if (*name == kInbox) return fail(StoreError::NotAllowed);
  std::vector<std::string> files;
  {
    std::lock_guard lock(mutex_);
    auto tx = Transaction::begin(db_);
    if (!tx) return fail(tx.error());
    auto row = find_mailbox_row(db_, *name);
    if (!row) return fail(row.error());
    if (!*row) return fail(StoreError::NoSuchMailbox);
    auto inferiors = has_inferiors(db_, *name);
    if (!inferiors) return fail(inferiors.error());
    if (*inferiors && !(*row)->selectable) return fail(StoreError::NotAllowed);
    auto removed = delete_mailbox_rows(db_, (*row)->id);
    if (!removed) return fail(removed.error());
    files = std::move(*removed);
    if (*inferiors) {
      // Keeps the name as \Noselect so the hierarchy stays whole.
      if (auto kept = insert_mailbox(db_, *name, false, ""); !kept) return fail(kept.error());
    } else if (auto ok = prune_ancestors(db_, *name); !ok) {
      return ok;
    }
    if (auto ok = tx->commit(); !ok) return ok;
  }
  remove_files(files);
  core::log_info("store_mailbox_delete")
      .kv("account", address_)
      .kv("mailbox", *name)
      .kv("messages", files.size());
  return {};
}

StoreResult<void> AccountStore::rename_mailbox(std::string_view raw_from, std::string_view raw_to) {
  auto from = normalize_mailbox_name(raw_from);
  if (!from) return fail(from.error());
  auto to = normalize_mailbox_name(raw_to);
  if (!to) return fail(to.error());
  if (*to == *from || *to == kInbox) return fail(StoreError::AlreadyExists);
  // INBOX is the exception: it stays, so its messages may move below it.
  if (*from != kInbox && is_inferior_name(*to, *from)) return fail(StoreError::NotAllowed);
  std::lock_guard lock(mutex_);
  auto tx = Transaction::begin(db_);
  if (!tx) return fail(tx.error());
  auto source = find_mailbox_row(db_, *from);
  if (!source) return fail(source.error());
  if (!*source) return fail(StoreError::NoSuchMailbox);
  auto target = find_mailbox_row(db_, *to);
  if (!target) return fail(target.error());
  auto target_inferiors = has_inferiors(db_, *to);
  if (!target_inferiors) return fail(target_inferiors.error());
  if (*target || *target_inferiors) return fail(StoreError::AlreadyExists);
  if (auto ok = create_ancestors(db_, *to); !ok) return ok;
  if (*from == kInbox) {
    // RFC 3501: the messages move to a new mailbox; INBOX and its inferiors stay.
    auto dst = insert_mailbox(db_, *to, true, "");
    if (!dst) return fail(dst.error());
    auto messages = select_messages(db_, (*source)->id, kAllUids);
    if (!messages) return fail(messages.error());
    if (!messages->empty()) {
      auto modseq = next_modseq(db_);
      if (!modseq) return fail(modseq.error());
      auto moved = move_rows(db_, **source, *dst, *messages, *modseq);
      if (!moved) return fail(moved.error());
    }
  } else {
    if (auto ok = rename_subtree(db_,
                                 "UPDATE mailbox SET name = ?2 || substr(name, ?3) "
                                 "WHERE name = ?1 OR (name >= ?4 AND name < ?5)",
                                 *from, *to);
        !ok) {
      return ok;
    }
    if (auto ok = rename_subtree(db_,
                                 "UPDATE OR REPLACE subscription SET name = ?2 || substr(name, ?3) "
                                 "WHERE name = ?1 OR (name >= ?4 AND name < ?5)",
                                 *from, *to);
        !ok) {
      return ok;
    }
    if (auto ok = prune_ancestors(db_, *from); !ok) return ok;
  }
  if (auto ok = tx->commit(); !ok) return ok;
  core::log_info("store_mailbox_rename").kv("account", address_).kv("from", *from).kv("to", *to);
  return {};
}

StoreResult<std::vector<MailboxInfo>> AccountStore::list_mailboxes() {
  std::lock_guard lock(mutex_);
  auto snapshot = Transaction::begin_read(db_);  // names and subscriptions of one moment
  if (!snapshot) return fail(snapshot.error());
  auto rows = all_mailbox_rows(db_);
  if (!rows) return fail(rows.error());
  auto subs = db_.prepare("SELECT name FROM subscription");
  if (!subs) return fail(subs.error());
  std::set<std::string, std::less<>> subscribed;
  while (true) {
    auto row = subs->step();
    if (!row) return fail(row.error());
    if (!*row) break;
    subscribed.emplace(subs->column_text(0));
  }
  std::set<std::string_view> parents;
  for (const MailboxRow& row : *rows) {
    for (auto p = parent_mailbox_name(row.name); !p.empty(); p = parent_mailbox_name(p)) {
      parents.insert(p);
    }
  }
  std::vector<MailboxInfo> out;
  out.reserve(rows->size());
  for (const MailboxRow& row : *rows) {
    MailboxInfo info = to_info(row);
    info.subscribed = subscribed.count(row.name) != 0;
    info.has_children = parents.count(row.name) != 0;
    out.push_back(std::move(info));
  }
  return out;
}

StoreResult<MailboxInfo> AccountStore::find_mailbox(std::string_view raw_name) {
  auto name = normalize_mailbox_name(raw_name);
  if (!name) return fail(name.error());
  std::lock_guard lock(mutex_);
  auto snapshot = Transaction::begin_read(db_);
  if (!snapshot) return fail(snapshot.error());
  auto row = find_mailbox_row(db_, *name);
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError::NoSuchMailbox);
  MailboxInfo info = to_info(**row);
  auto subscribed = is_subscribed(db_, *name);
  if (!subscribed) return fail(subscribed.error());
  auto inferiors = has_inferiors(db_, *name);
  if (!inferiors) return fail(inferiors.error());
  info.subscribed = *subscribed;
  info.has_children = *inferiors;
  return info;
}

StoreResult<void> AccountStore::subscribe(std::string_view raw_name) {
  auto name = normalize_mailbox_name(raw_name);
  if (!name) return fail(name.error());
  std::lock_guard lock(mutex_);
  auto st = db_.prepare("INSERT OR IGNORE INTO subscription (name) VALUES (?1)");
  if (!st) return fail(st.error());
  st->bind_text(1, *name);
  return st->run();
}

StoreResult<void> AccountStore::unsubscribe(std::string_view raw_name) {
  auto name = normalize_mailbox_name(raw_name);
  if (!name) return fail(name.error());
  std::lock_guard lock(mutex_);
  auto st = db_.prepare("DELETE FROM subscription WHERE name = ?1");
  if (!st) return fail(st.error());
  st->bind_text(1, *name);
  return st->run();
}

StoreResult<std::vector<std::string>> AccountStore::subscriptions() {
  std::lock_guard lock(mutex_);
  auto st = db_.prepare("SELECT name FROM subscription ORDER BY name");
  if (!st) return fail(st.error());
  std::vector<std::string> names;
  while (true) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) return names;
    names.emplace_back(st->column_text(0));
  }
}

}  // namespace postern::node::store
