#include "backend/store/mailbox_rows.hpp"

#include <ctime>
#include <limits>

#include "backend/store/mailbox_name.hpp"

namespace postern::node::store {

namespace {

constexpr const char* kSelectMailbox =
    "SELECT id, name, selectable, special_use, uidvalidity, uidnext, highest_modseq, "
    "first_recent_uid FROM mailbox ";

MailboxRow read_row(const Statement& st) {
  MailboxRow row;
  row.id = st.column_int64(0);
  row.name = std::string(st.column_text(1));
  row.selectable = st.column_int64(2) != 0;
  row.special_use = std::string(st.column_text(3));
  row.uidvalidity = static_cast<std::uint32_t>(st.column_int64(4));
  row.uidnext = static_cast<Uid>(st.column_int64(5));
  row.highest_modseq = static_cast<ModSeq>(st.column_int64(6));
  row.first_recent_uid = static_cast<Uid>(st.column_int64(7));
  return row;
}

StoreResult<std::optional<MailboxRow>> one_row(StoreResult<Statement>& st) {
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return std::optional<MailboxRow>();
  return std::optional<MailboxRow>(read_row(*st));
}

StoreResult<std::uint32_t> next_uidvalidity(Database& db) {
  auto st = db.prepare(
      "UPDATE account SET last_uidvalidity = max(last_uidvalidity + 1, ?1) WHERE id = 1 "
      "RETURNING last_uidvalidity");
  if (!st) return fail(st.error());
  st->bind(1, static_cast<std::int64_t>(std::time(nullptr)));
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError::Corrupt);
  std::int64_t value = st->column_int64(0);
  if (value <= 0 || value > std::numeric_limits<std::uint32_t>::max()) {
    return fail(StoreError::Limit);
  }
  return static_cast<std::uint32_t>(value);
}

}  // namespace

StoreResult<std::optional<MailboxRow>> find_mailbox_row(Database& db, std::string_view name) {
  static const std::string sql = std::string(kSelectMailbox) + "WHERE name = ?1";
  auto st = db.prepare(sql.c_str());
  if (!st) return fail(st.error());
  st->bind_text(1, name);
  return one_row(st);
}

StoreResult<MailboxRow> mailbox_row(Database& db, MailboxId id) {
  static const std::string sql = std::string(kSelectMailbox) + "WHERE id = ?1";
  auto st = db.prepare(sql.c_str());
  if (!st) return fail(st.error());
  st->bind(1, id);
  auto row = one_row(st);
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError::NoSuchMailbox);
  return std::move(**row);
}

StoreResult<MailboxRow> selectable_mailbox(Database& db, MailboxId id) {
  auto row = mailbox_row(db, id);
  if (row && !row->selectable) return fail(StoreError::NotAllowed);
  return row;
}

StoreResult<std::vector<MailboxRow>> all_mailbox_rows(Database& db) {
  static const std::string sql = std::string(kSelectMailbox) + "ORDER BY name";
  auto st = db.prepare(sql.c_str());
  if (!st) return fail(st.error());
  std::vector<MailboxRow> rows;
  while (true) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) return rows;
    rows.push_back(read_row(*st));
  }
}

StoreResult<bool> has_inferiors(Database& db, std::string_view name) {
  auto st = db.prepare("SELECT 1 FROM mailbox WHERE name >= ?1 AND name < ?2 LIMIT 1");
  if (!st) return fail(st.error());
  st->bind_text(1, inferiors_begin(name)).bind_text(2, inferiors_end(name));
  return st->step();
}

StoreResult<ModSeq> next_modseq(Database& db) {
  auto st = db.prepare("UPDATE account SET modseq = modseq + 1 WHERE id = 1 RETURNING modseq");
  if (!st) return fail(st.error());
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError::Corrupt);
  return static_cast<ModSeq>(st->column_int64(0));
}

StoreResult<MailboxRow> insert_mailbox(Database& db, std::string_view name, bool selectable,
                                       std::string_view special_use) {
  auto uidvalidity = next_uidvalidity(db);
  if (!uidvalidity) return fail(uidvalidity.error());
  auto modseq = next_modseq(db);
  if (!modseq) return fail(modseq.error());
  auto st = db.prepare(
      "INSERT INTO mailbox (name, selectable, special_use, uidvalidity, uidnext, "
      "highest_modseq, first_recent_uid) VALUES (?1, ?2, ?3, ?4, 1, ?5, 1) RETURNING id");
  if (!st) return fail(st.error());
  st->bind_text(1, name)
      .bind(2, selectable ? 1 : 0)
      .bind_text(3, special_use)
      .bind(4, *uidvalidity)
      .bind(5, static_cast<std::int64_t>(*modseq));
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError::Corrupt);
  MailboxRow out;
  out.id = st->column_int64(0);
  out.name = std::string(name);
  out.selectable = selectable;
  out.special_use = std::string(special_use);
  out.uidvalidity = *uidvalidity;
  out.highest_modseq = *modseq;
  return out;
}

StoreResult<void> create_ancestors(Database& db, std::string_view name) {
  for (std::size_t slash = name.find(kHierarchySeparator); slash != std::string_view::npos;
       slash = name.find(kHierarchySeparator, slash + 1)) {
    std::string_view ancestor = name.substr(0, slash);
    auto found = find_mailbox_row(db, ancestor);
    if (!found) return fail(found.error());
    if (*found) continue;
    if (auto made = insert_mailbox(db, ancestor, true, ""); !made) return fail(made.error());
  }
  return {};
}

StoreResult<void> prune_ancestors(Database& db, std::string_view name) {
  for (std::string_view parent = parent_mailbox_name(name); !parent.empty();
       parent = parent_mailbox_name(parent)) {
    auto row = find_mailbox_row(db, parent);
    if (!row) return fail(row.error());
    if (!*row || (*row)->selectable) return {};
    auto inferiors = has_inferiors(db, parent);
    if (!inferiors) return fail(inferiors.error());
    if (*inferiors) return {};
    auto files = delete_mailbox_rows(db, (*row)->id);  // \Noselect: holds no messages
    if (!files) return fail(files.error());
  }
  return {};
}

StoreResult<void> update_mailbox_counters(Database& db, const MailboxRow& row) {
  auto st = db.prepare(
      "UPDATE mailbox SET uidnext = ?2, highest_modseq = ?3, first_recent_uid = ?4 "
      "WHERE id = ?1");
  if (!st) return fail(st.error());
  st->bind(1, row.id)
      .bind(2, row.uidnext)
      .bind(3, static_cast<std::int64_t>(row.highest_modseq))
      .bind(4, row.first_recent_uid);
  return st->run();
}

StoreResult<std::vector<std::string>> delete_mailbox_rows(Database& db, MailboxId id) {
  std::vector<std::string> files;
  {
    auto st = db.prepare("SELECT file FROM message WHERE mailbox_id = ?1");
    if (!st) return fail(st.error());
    st->bind(1, id);
    while (true) {
      auto row = st->step();
      if (!row) return fail(row.error());
      if (!*row) break;
      files.emplace_back(st->column_text(0));
    }
  }
  static constexpr const char* kDeletes[] = {
      "DELETE FROM message_meta WHERE file IN (SELECT file FROM message WHERE mailbox_id = ?1)",
      "DELETE FROM message WHERE mailbox_id = ?1",
      "DELETE FROM keyword WHERE mailbox_id = ?1",
      "DELETE FROM expunged WHERE mailbox_id = ?1",
      "DELETE FROM mailbox WHERE id = ?1",
  };
  for (const char* sql : kDeletes) {
    auto st = db.prepare(sql);
    if (!st) return fail(st.error());
    st->bind(1, id);
    if (auto ok = st->run(); !ok) return fail(ok.error());
  }
  return files;
}

}  // namespace postern::node::store
