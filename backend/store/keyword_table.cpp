#include "backend/store/keyword_table.hpp"

#include <algorithm>

namespace postern::node::store {

namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

}  // namespace

bool is_valid_keyword(std::string_view keyword) {
  if (keyword.empty() || keyword.size() > kMaxKeywordBytes) return false;
  static constexpr std::string_view kAtomSpecials = "(){%*\"\\]";
  return std::all_of(keyword.begin(), keyword.end(), [](char c) {
    return c > 0x20 && c < 0x7f && kAtomSpecials.find(c) == std::string_view::npos;
  });
}

StoreResult<KeywordTable> KeywordTable::load(Database& db, MailboxId mailbox) {
  auto st = db.prepare("SELECT bit, name FROM keyword WHERE mailbox_id = ?1 ORDER BY bit");
  if (!st) return fail(st.error());
  st->bind(1, mailbox);
  std::vector<std::string> names;
  while (true) {
    auto row = st->step();
    if (!row) return fail(row.error());
    if (!*row) break;
    // Bits are handed out densely from 0; anything else is damage.
    if (st->column_int64(0) != static_cast<std::int64_t>(names.size()) ||
        names.size() >= kMaxKeywordsPerMailbox) {
      return fail(StoreError::Corrupt);
    }
    names.emplace_back(st->column_text(1));
  }
  return KeywordTable(mailbox, std::move(names));
}

int KeywordTable::find(std::string_view keyword) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (iequals(names_[i], keyword)) return static_cast<int>(i);
  }
  return -1;
}

StoreResult<int> KeywordTable::find_or_add(Database& db, std::string_view keyword) {
  int bit = find(keyword);
  if (bit >= 0) return bit;
  if (names_.size() >= kMaxKeywordsPerMailbox) return fail(StoreError::Limit);
  auto st = db.prepare("INSERT INTO keyword (mailbox_id, bit, name) VALUES (?1, ?2, ?3)");
  if (!st) return fail(st.error());
  st->bind(1, mailbox_).bind(2, static_cast<std::int64_t>(names_.size())).bind_text(3, keyword);
  if (auto ok = st->run(); !ok) return fail(ok.error());
  names_.emplace_back(keyword);
  return static_cast<int>(names_.size() - 1);
}

StoreResult<std::uint64_t> KeywordTable::mask_for(Database& db,
                                                  std::span<const std::string> keywords, bool add) {
  std::uint64_t mask = 0;
  for (const std::string& keyword : keywords) {
    if (!is_valid_keyword(keyword)) return fail(StoreError::BadArgument);
  }
  if (add) {
    std::size_t unknown = 0;
    for (std::size_t i = 0; i < keywords.size(); ++i) {
      bool repeated = std::any_of(keywords.begin(), keywords.begin() + static_cast<long>(i),
                                  [&](const std::string& k) { return iequals(k, keywords[i]); });
      if (!repeated && find(keywords[i]) < 0) ++unknown;
    }
    // All or nothing: the transaction may still commit after a Limit.
    if (names_.size() + unknown > kMaxKeywordsPerMailbox) return fail(StoreError::Limit);
  }
  for (const std::string& keyword : keywords) {
    int bit = -1;
    if (add) {
      auto added = find_or_add(db, keyword);
      if (!added) return fail(added.error());
      bit = *added;
    } else {
      bit = find(keyword);
    }
    if (bit >= 0) mask |= std::uint64_t{1} << bit;
  }
  return mask;
}

StoreResult<std::uint64_t> KeywordTable::translate(Database& db, std::uint64_t mask,
                                                   const KeywordTable& from) {
  std::uint64_t out = 0;
  for (std::size_t bit = 0; bit < from.names_.size(); ++bit) {
    if ((mask & (std::uint64_t{1} << bit)) == 0) continue;
    auto to = find_or_add(db, from.names_[bit]);
    if (!to) return fail(to.error());
    out |= std::uint64_t{1} << *to;
  }
  return out;
}

}  // namespace postern::node::store
