#include "backend/store/message_rows.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "backend/store/keyword_table.hpp"

namespace postern::node::store {

namespace {

// "extra" pairs as netstrings: "4:name,5:value," repeated.
std::string encode_extra(const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string out;
  for (const auto& [name, value] : extra) {
    for (const std::string* s : {&name, &value}) {
      out += std::to_string(s->size());
      out += ':';
      out += *s;
      out += ',';
    }
  }
  return out;
}

bool decode_netstring(std::string_view& in, std::string& out) {
  std::size_t len = 0;
  auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), len);
  std::size_t digits = static_cast<std::size_t>(end - in.data());
  if (ec != std::errc() || digits == 0 || digits >= in.size() || in[digits] != ':') return false;
  in.remove_prefix(digits + 1);
  if (len >= in.size() || in[len] != ',') return false;
  out.assign(in.substr(0, len));
  in.remove_prefix(len + 1);
  return true;
}

bool decode_extra(std::string_view in, std::vector<std::pair<std::string, std::string>>& out) {
  while (!in.empty()) {
    std::pair<std::string, std::string> item;
    if (!decode_netstring(in, item.first) || !decode_netstring(in, item.second)) return false;
    out.push_back(std::move(item));
  }
  return true;
}

StoredMessage read_message(const Statement& st) {
  return StoredMessage{read_message_info(st), std::string(st.column_text(7))};
}

}  // namespace

MessageInfo read_message_info(const Statement& st) {
  MessageInfo info;
  info.uid = static_cast<Uid>(st.column_int64(0));
  info.flags = static_cast<FlagBits>(st.column_int64(1));
  info.keywords = static_cast<std::uint64_t>(st.column_int64(2));
  info.internal_date = st.column_int64(3);
  info.zone_minutes = static_cast<std::int16_t>(st.column_int64(4));
  info.size = static_cast<std::uint64_t>(st.column_int64(5));
  info.modseq = static_cast<ModSeq>(st.column_int64(6));
  return info;
}

UidSet normalize_uid_set(const UidSet& set) {
  UidSet out = set;
  for (UidRange& r : out) {
    if (r.first > r.last) std::swap(r.first, r.last);
  }
  std::sort(out.begin(), out.end(),
            [](const UidRange& a, const UidRange& b) { return a.first < b.first; });
  UidSet merged;
  for (const UidRange& r : out) {
    if (!merged.empty() && r.first <= merged.back().last + std::uint64_t{1}) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

StoreResult<std::vector<StoredMessage>> select_messages(Database& db, MailboxId mailbox,
                                                        const UidSet& uids, bool deleted_only) {
  auto st = db.prepare(
      "SELECT uid, flags, keywords, internal_date, zone, size, modseq, file FROM message "
      "WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 AND (flags & ?4) = ?4 ORDER BY uid");
  if (!st) return fail(st.error());
  std::vector<StoredMessage> out;
  for (const UidRange& range : normalize_uid_set(uids)) {
    st->reset();
    st->bind(1, mailbox).bind(2, range.first).bind(3, range.last);
    st->bind(4, deleted_only ? kFlagDeleted : 0);
    while (true) {
      auto row = st->step();
      if (!row) return fail(row.error());
      if (!*row) break;
      out.push_back(read_message(*st));
    }
  }
  return out;
}

StoreResult<std::string> message_file(Database& db, MailboxId mailbox, Uid uid) {
  auto st = db.prepare("SELECT file FROM message WHERE mailbox_id = ?1 AND uid = ?2");
  if (!st) return fail(st.error());
  st->bind(1, mailbox).bind(2, uid);
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError::NoSuchMessage);
  return std::string(st->column_text(0));
}

StoreResult<Uid> take_uid(MailboxRow& row) {
  if (row.uidnext == 0 || row.uidnext == std::numeric_limits<Uid>::max()) {
    return fail(StoreError::Limit);
  }
  return row.uidnext++;
}

StoreResult<void> insert_message(Database& db, MailboxId mailbox, const MessageInfo& info,
                                 std::string_view file) {
  auto st = db.prepare(
      "INSERT INTO message (mailbox_id, uid, flags, keywords, internal_date, zone, size, modseq, "
      "file) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!st) return fail(st.error());
  st->bind(1, mailbox)
      .bind(2, info.uid)
      .bind(3, info.flags)
      .bind(4, static_cast<std::int64_t>(info.keywords))
      .bind(5, info.internal_date)
      .bind(6, info.zone_minutes)
      .bind(7, static_cast<std::int64_t>(info.size))
      .bind(8, static_cast<std::int64_t>(info.modseq))
      .bind_text(9, file);
  return st->run();
}

StoreResult<void> write_meta(Database& db, std::string_view file, const MessageMeta& meta) {
  auto st = db.prepare(
      "INSERT OR REPLACE INTO message_meta (file, structure, envelope, extra) "
      "VALUES (?1, ?2, ?3, ?4)");
  if (!st) return fail(st.error());
  st->bind_text(1, file)
      .bind_blob(2, meta.structure)
      .bind_blob(3, meta.envelope)
      .bind_blob(4, encode_extra(meta.extra));
  return st->run();
}

StoreResult<MessageMeta> read_meta(Database& db, std::string_view file) {
  auto st = db.prepare("SELECT structure, envelope, extra FROM message_meta WHERE file = ?1");
  if (!st) return fail(st.error());
  st->bind_text(1, file);
  auto row = st->step();
  if (!row) return fail(row.error());
  MessageMeta meta;
  if (!*row) return meta;
  meta.structure = std::string(st->column_blob(0));
  meta.envelope = std::string(st->column_blob(1));
  if (!decode_extra(st->column_blob(2), meta.extra)) return fail(StoreError::Corrupt);
  return meta;
}

StoreResult<void> copy_meta(Database& db, std::string_view from_file, std::string_view to_file) {
  auto st = db.prepare(
      "INSERT OR REPLACE INTO message_meta (file, structure, envelope, extra) "
      "SELECT ?2, structure, envelope, extra FROM message_meta WHERE file = ?1");
  if (!st) return fail(st.error());
  st->bind_text(1, from_file).bind_text(2, to_file);
  return st->run();
}

StoreResult<void> expunge_row(Database& db, MailboxId mailbox, Uid uid, std::string_view file,
                              ModSeq modseq) {
  auto del = db.prepare("DELETE FROM message WHERE mailbox_id = ?1 AND uid = ?2");
  if (!del) return fail(del.error());
  del->bind(1, mailbox).bind(2, uid);
  if (auto ok = del->run(); !ok) return ok;
  auto meta = db.prepare("DELETE FROM message_meta WHERE file = ?1");
  if (!meta) return fail(meta.error());
  meta->bind_text(1, file);
  if (auto ok = meta->run(); !ok) return ok;
  auto log = db.prepare("INSERT INTO expunged (mailbox_id, modseq, uid) VALUES (?1, ?2, ?3)");
  if (!log) return fail(log.error());
  log->bind(1, mailbox).bind(2, static_cast<std::int64_t>(modseq)).bind(3, uid);
  return log->run();
}

StoreResult<std::vector<UidMapping>> move_rows(Database& db, MailboxRow& src, MailboxRow& dst,
                                               std::span<const StoredMessage> messages,
                                               ModSeq modseq) {
  auto src_keywords = KeywordTable::load(db, src.id);
  if (!src_keywords) return fail(src_keywords.error());
  auto dst_keywords = KeywordTable::load(db, dst.id);
  if (!dst_keywords) return fail(dst_keywords.error());
  std::vector<UidMapping> mapping;
  mapping.reserve(messages.size());
  for (const StoredMessage& m : messages) {
    auto uid = take_uid(dst);
    if (!uid) return fail(uid.error());
    auto keywords = dst_keywords->translate(db, m.info.keywords, *src_keywords);
    if (!keywords) return fail(keywords.error());
    auto st = db.prepare(
        "UPDATE message SET mailbox_id = ?3, uid = ?4, keywords = ?5, modseq = ?6 "
        "WHERE mailbox_id = ?1 AND uid = ?2");
    if (!st) return fail(st.error());
    st->bind(1, src.id)
        .bind(2, m.info.uid)
        .bind(3, dst.id)
        .bind(4, *uid)
        .bind(5, static_cast<std::int64_t>(*keywords))
        .bind(6, static_cast<std::int64_t>(modseq));
    if (auto ok = st->run(); !ok) return fail(ok.error());
    auto log = db.prepare("INSERT INTO expunged (mailbox_id, modseq, uid) VALUES (?1, ?2, ?3)");
    if (!log) return fail(log.error());
    log->bind(1, src.id).bind(2, static_cast<std::int64_t>(modseq)).bind(3, m.info.uid);
    if (auto ok = log->run(); !ok) return fail(ok.error());
    mapping.push_back(UidMapping{m.info.uid, *uid});
  }
  if (messages.empty()) return mapping;
  src.highest_modseq = modseq;
  dst.highest_modseq = modseq;
  if (auto ok = update_mailbox_counters(db, src); !ok) return fail(ok.error());
  if (auto ok = update_mailbox_counters(db, dst); !ok) return fail(ok.error());
  return mapping;
}

StoreResult<void> check_quota(Database& db, std::uint64_t quota, std::uint64_t bytes) {
  if (quota == 0) return {};
  auto used = db.query_int("SELECT used_bytes FROM account WHERE id = 1");
  if (!used) return fail(used.error());
  if (static_cast<std::uint64_t>(*used) + bytes > quota) return fail(StoreError::QuotaExceeded);
  return {};
}

}  // namespace postern::node::store
