// A folder's message list as GET /api/folders/{folder}/messages returns it
// (API.md): one entry per message from the store's row and its cached MIME
// structure (no message file is opened for a message delivered with its meta),
// the search narrowing, the sort and the page. Pure: the handler reads the
// store on a worker and calls these.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <tl/expected.hpp>

#include "backend/mime/message_part.hpp"
#include "backend/store/store_types.hpp"
#include "backend/webmail/message_view.hpp"

namespace postern::node::webmail {

struct ListEntry {
  store::MessageInfo info;
  MailAddress from;             // the first From address ({} if none)
  std::vector<MailAddress> to;  // decoded
  std::string subject;          // decoded
  bool has_attachments = false;
  // Folded copies for search and sort (imap::folded).
  std::string from_key, to_key, subject_key;
};

enum class SortKey { Date, From, Subject, Size };

struct ListQuery {
  SortKey sort = SortKey::Date;
  bool descending = true;
  std::size_t page = 0;
  std::size_t size = 50;
  // Substring searches, already folded; "" = no condition.
  std::string from, to, subject, body;
  bool header_search() const { return !from.empty() || !to.empty() || !subject.empty(); }
};

inline constexpr std::size_t kMaxPageSize = 200;

// The query string's page, size, sort, order, from, to, subject and body. An
// error names the parameter that is wrong.
tl::expected<ListQuery, std::string> parse_list_query(std::string_view query);

// From the row and the message's structure (its envelope, its parts).
ListEntry make_list_entry(const store::MessageInfo& info, const mime::MessagePart& root);

// Whether the entry passes the query's from / to / subject conditions.
bool header_matches(const ListEntry& entry, const ListQuery& query);
// Whether the folded `text` holds the body needle.
bool body_matches(std::string_view text, const ListQuery& query);

// Stable; ties in order of uid (the same direction as the sort).
void sort_entries(std::vector<ListEntry>& entries, SortKey key, bool descending);

// The same order for bare rows, by date or size (what the rows hold).
void sort_rows(std::vector<store::MessageInfo>& rows, SortKey key, bool descending);

nlohmann::json address_json(const MailAddress& a);
nlohmann::json addresses_json(const std::vector<MailAddress>& list);
nlohmann::json entry_json(const ListEntry& entry);

// "2026-11-21T10:00:00Z".
std::string rfc3339(std::int64_t unix_seconds);

}  // namespace postern::node::webmail
