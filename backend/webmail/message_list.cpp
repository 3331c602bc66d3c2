#include "backend/webmail/message_list.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <ctime>

#include "backend/imap/search_text.hpp"
#include "core/http_message.hpp"

namespace postern::node::webmail {

namespace {

std::optional<std::size_t> number(std::string_view text) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// What a From sorts by: the name people see, else the address.
std::string from_sort_text(const MailAddress& a) {
  return a.name.empty() ? a.address : a.name;
}

}  // namespace

tl::expected<ListQuery, std::string> parse_list_query(std::string_view query) {
  ListQuery q;
  if (auto v = core::http::query_param(query, "page")) {
    auto n = number(*v);
    if (!n || *n > 1'000'000) return tl::unexpected(std::string("page: expected a number >= 0"));
    q.page = *n;
  }
  if (auto v = core::http::query_param(query, "size")) {
    auto n = number(*v);
    if (!n || *n < 1 || *n > kMaxPageSize)
      return tl::unexpected(fmt::format("size: expected 1..{}", kMaxPageSize));
    q.size = *n;
  }
  if (auto v = core::http::query_param(query, "sort")) {
    if (*v == "date") {
      q.sort = SortKey::Date;
    } else if (*v == "from") {
      q.sort = SortKey::From;
    } else if (*v == "subject") {
      q.sort = SortKey::Subject;
    } else if (*v == "size") {
      q.sort = SortKey::Size;
    } else {
      return tl::unexpected(std::string("sort: expected date, from, subject or size"));
    }
  }
  if (auto v = core::http::query_param(query, "order")) {
    if (*v != "asc" && *v != "desc")
      return tl::unexpected(std::string("order: expected asc or desc"));
    q.descending = *v == "desc";
  }
  for (auto [name, slot] : {std::pair{"from", &q.from}, std::pair{"to", &q.to},
                            std::pair{"subject", &q.subject}, std::pair{"body", &q.body}}) {
    if (auto v = core::http::query_param(query, name)) {
      if (v->size() > 1000) return tl::unexpected(fmt::format("{}: too long", name));
      *slot = imap::folded(*v);
    }
  }
  return q;
}

ListEntry make_list_entry(const store::MessageInfo& info, const mime::MessagePart& root) {
  ListEntry e;
  e.info = info;
  // The view of the structure alone: its header fields decoded as the reader
  // shows them, and the attachments (no body is decoded without the bytes).
  const MessageView view = make_message_view({}, root);
  if (!view.from.empty()) e.from = view.from.front();
  e.to = view.to;
  e.subject = view.subject;
  e.has_attachments = std::any_of(view.attachments.begin(), view.attachments.end(),
                                  [](const AttachmentInfo& a) { return !a.is_inline; });
  e.from_key = imap::folded(e.from.name + " " + e.from.address);
  std::string to;
  for (const auto& a : e.to) to += a.name + " " + a.address + ", ";
  e.to_key = imap::folded(to);
  e.subject_key = imap::folded(e.subject);
  return e;
}

bool header_matches(const ListEntry& entry, const ListQuery& query) {
  return imap::contains(entry.from_key, query.from) && imap::contains(entry.to_key, query.to) &&
         imap::contains(entry.subject_key, query.subject);
}

bool body_matches(std::string_view text, const ListQuery& query) {
  return imap::contains(text, query.body);
}

void sort_entries(std::vector<ListEntry>& entries, SortKey key, bool descending) {
  auto by = [&](auto&& field) {
    std::stable_sort(entries.begin(), entries.end(), [&](const ListEntry& a, const ListEntry& b) {
      const auto& fa = field(a);
      const auto& fb = field(b);
      if (fa != fb) return descending ? fb < fa : fa < fb;
      return descending ? b.info.uid < a.info.uid : a.info.uid < b.info.uid;
    });
  };
  switch (key) {
    case SortKey::Date:
      by([](const ListEntry& e) { return e.info.internal_date; });
      break;
    case SortKey::Size:
      by([](const ListEntry& e) { return e.info.size; });
      break;
    case SortKey::Subject:
      by([](const ListEntry& e) -> const std::string& { return e.subject_key; });
      break;
    case SortKey::From: {
      // Folded display text, computed once per entry rather than per comparison.
      std::vector<std::pair<std::string, std::size_t>> keys;
      keys.reserve(entries.size());
      for (std::size_t i = 0; i < entries.size(); ++i)
        keys.emplace_back(imap::folded(from_sort_text(entries[i].from)), i);
      std::stable_sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
        if (a.first != b.first) return descending ? b.first < a.first : a.first < b.first;
        const auto ua = entries[a.second].info.uid, ub = entries[b.second].info.uid;
        return descending ? ub < ua : ua < ub;
      });
      std::vector<ListEntry> sorted;
      sorted.reserve(entries.size());
      for (auto& [k, i] : keys) sorted.push_back(std::move(entries[i]));
      entries = std::move(sorted);
      break;
    }
  }
}

void sort_rows(std::vector<store::MessageInfo>& rows, SortKey key, bool descending) {
  auto value = [key](const store::MessageInfo& m) {
    return key == SortKey::Size ? static_cast<std::int64_t>(m.size) : m.internal_date;
  };
  std::sort(rows.begin(), rows.end(),
            [&](const store::MessageInfo& a, const store::MessageInfo& b) {
              const auto va = value(a), vb = value(b);
              if (va != vb) return descending ? vb < va : va < vb;
              return descending ? b.uid < a.uid : a.uid < b.uid;
            });
}

nlohmann::json address_json(const MailAddress& a) {
  return {{"name", a.name}, {"address", a.address}};
}

nlohmann::json addresses_json(const std::vector<MailAddress>& list) {
  auto out = nlohmann::json::array();
  for (const auto& a : list) out.push_back(address_json(a));
  return out;
}

nlohmann::json entry_json(const ListEntry& e) {
  const auto flags = e.info.flags;
  return {{"uid", e.info.uid},
          {"date", rfc3339(e.info.internal_date)},
          {"from", address_json(e.from)},
          {"to", addresses_json(e.to)},
          {"subject", e.subject},
          {"size", e.info.size},
          {"seen", (flags & store::kFlagSeen) != 0},
          {"flagged", (flags & store::kFlagFlagged) != 0},
          {"answered", (flags & store::kFlagAnswered) != 0},
          {"draft", (flags & store::kFlagDraft) != 0},
          {"has_attachments", e.has_attachments}};
}

std::string rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "1970-01-01T00:00:00Z";
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace postern::node::webmail
