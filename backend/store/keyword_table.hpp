// A mailbox's keyword table: bit -> keyword name, dense, at most
// kMaxKeywordsPerMailbox. Messages store a 64-bit mask into it. Names are IMAP
// atoms compared ASCII case-insensitively; the first spelling is kept. Bits are
// never reused while the mailbox exists (a mask stays meaningful).
//
// Not thread-safe; used inside an AccountStore transaction.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/store/sqlite_db.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::store {

constexpr std::size_t kMaxKeywordBytes = 128;

// An IMAP flag-keyword: 1..kMaxKeywordBytes of ATOM-CHAR (so never '\').
bool is_valid_keyword(std::string_view keyword);

class KeywordTable {
 public:
  static StoreResult<KeywordTable> load(Database& db, MailboxId mailbox);

  // The mask of `keywords`. With `add`, unknown names get the next free bits
  // (Limit when the table is full: nothing is added then); without, unknown
  // names are ignored. BadArgument for an invalid keyword.
  StoreResult<std::uint64_t> mask_for(Database& db, std::span<const std::string> keywords,
                                      bool add);

  // `mask`, expressed in `from`'s bits, rewritten into this table's bits.
  StoreResult<std::uint64_t> translate(Database& db, std::uint64_t mask, const KeywordTable& from);

  const std::vector<std::string>& names() const { return names_; }

 private:
  KeywordTable(MailboxId mailbox, std::vector<std::string> names)
      : mailbox_(mailbox), names_(std::move(names)) {}
  int find(std::string_view keyword) const;
  StoreResult<int> find_or_add(Database& db, std::string_view keyword);

  MailboxId mailbox_;
  std::vector<std::string> names_;
};

}  // namespace postern::node::store
