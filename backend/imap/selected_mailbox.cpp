#include "backend/imap/selected_mailbox.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "backend/imap/flags.hpp"

namespace postern::node::imap {

SelectedMailbox::SelectedMailbox(store::MailboxInfo info, bool read_only, store::MessageList list,
                                 const store::MailboxStatus& status)
    : info_(std::move(info)),
      read_only_(read_only),
      uidnext_(status.uidnext),
      highest_modseq_(status.highest_modseq),
      messages_(std::move(list.messages)),
      keyword_names_(std::move(list.keyword_names)) {}

std::uint32_t SelectedMailbox::seq_of(store::Uid uid) const {
  auto it = std::lower_bound(messages_.begin(), messages_.end(), uid,
                             [](const store::MessageInfo& m, store::Uid u) { return m.uid < u; });
  if (it == messages_.end() || it->uid != uid) return 0;
  return static_cast<std::uint32_t>(it - messages_.begin()) + 1;
}

std::vector<std::uint32_t> SelectedMailbox::resolve(const core::imap::SequenceSet& set,
                                                    bool uid) const {
  std::vector<std::uint32_t> out;
  if (messages_.empty()) return out;
  if (!uid) {
    set.for_each(exists(), exists(), [&](std::uint32_t n) { out.push_back(n - 1); });
    return out;
  }
  for (const auto& r : set.normalized(max_uid())) {
    auto it = std::lower_bound(messages_.begin(), messages_.end(), r.first,
                               [](const store::MessageInfo& m, store::Uid u) { return m.uid < u; });
    for (; it != messages_.end() && it->uid <= r.last; ++it)
      out.push_back(static_cast<std::uint32_t>(it - messages_.begin()));
  }
  return out;
}

store::UidSet SelectedMailbox::uid_set(std::span<const std::uint32_t> indexes) const {
  store::UidSet out;
  for (std::uint32_t i : indexes) {
    store::Uid u = messages_[i].uid;
    if (!out.empty() && out.back().last + 1 == u) {
      out.back().last = u;
    } else {
      out.push_back({u, u});
    }
  }
  return out;
}

std::string SelectedMailbox::format_uids(std::span<const store::Uid> uids) {
  std::string out;
  for (std::size_t i = 0; i < uids.size();) {
    std::size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(uids[i]);
    if (j > i) out += fmt::format(":{}", uids[j]);
    i = j + 1;
  }
  return out;
}

bool SelectedMailbox::is_recent(store::Uid uid) const {
  for (const auto& r : recent_)
    if (uid >= r.first && uid < r.end) return true;
  return false;
}

void SelectedMailbox::add_recent(store::RecentRange range) {
  if (range.end > range.first) recent_.push_back(range);
}

std::uint32_t SelectedMailbox::recent_count() const {
  if (recent_.empty()) return 0;
  std::uint32_t n = 0;
  for (const auto& m : messages_)
    if (is_recent(m.uid)) ++n;
  return n;
}

store::RecentRange SelectedMailbox::recent_hull() const {
  if (recent_.empty()) return {1, 1};
  store::RecentRange hull = recent_.front();
  for (const auto& r : recent_) {
    hull.first = std::min(hull.first, r.first);
    hull.end = std::max(hull.end, r.end);
  }
  return hull;
}

std::uint32_t SelectedMailbox::first_unseen() const {
  for (std::size_t i = 0; i < messages_.size(); ++i)
    if (!(messages_[i].flags & store::kFlagSeen)) return static_cast<std::uint32_t>(i) + 1;
  return 0;
}

std::string SelectedMailbox::flags_lines() const {
  return fmt::format("* FLAGS {}\r\n* OK [PERMANENTFLAGS {}] Flags permitted.\r\n",
                     format_flag_names(keyword_names_, false),
                     read_only_
                         ? std::string("()")
                         : format_flag_names(keyword_names_, keyword_names_.size() <
                                                                 store::kMaxKeywordsPerMailbox));
}

void SelectedMailbox::adopt_keywords(const std::vector<std::string>& names, std::string& out) {
  // The keyword table only grows (a bit never changes meaning), so the longer
  // list is the newer one.
  if (names.size() <= keyword_names_.size()) return;
  keyword_names_ = names;
  out += flags_lines();
}

bool SelectedMailbox::expunged_elsewhere(store::Uid uid) const {
  return std::binary_search(pending_expunges_.begin(), pending_expunges_.end(), uid);
}

void SelectedMailbox::remove_pending(std::string& out) {
  expunge(pending_expunges_, out);
  pending_expunges_.clear();
}

void SelectedMailbox::expunge(std::span<const store::Uid> uids, std::string& out) {
  if (uids.empty()) return;
  // Highest first, so each reported number is still right when the client
  // reads it (RFC 3501 7.4.1: every EXPUNGE renumbers the later messages).
  std::vector<std::uint32_t> seqs;
  for (store::Uid u : uids)
    if (std::uint32_t s = seq_of(u)) seqs.push_back(s);
  std::sort(seqs.begin(), seqs.end(), std::greater<>());
  for (std::uint32_t s : seqs) fmt::format_to(std::back_inserter(out), "* {} EXPUNGE\r\n", s);
  std::vector<store::Uid> gone(uids.begin(), uids.end());
  std::sort(gone.begin(), gone.end());
  std::erase_if(messages_, [&](const store::MessageInfo& m) {
    return std::binary_search(gone.begin(), gone.end(), m.uid);
  });
}

void SelectedMailbox::update(const store::MessageList& changed) {
  std::string ignored;
  adopt_keywords(changed.keyword_names, ignored);
  for (const auto& m : changed.messages) {
    if (std::uint32_t s = seq_of(m.uid)) {
      auto& mine = messages_[s - 1];
      mine.flags = m.flags;
      mine.keywords = m.keywords;
      mine.modseq = m.modseq;
    }
  }
  for (const auto& m : changed.messages) highest_modseq_ = std::max(highest_modseq_, m.modseq);
}

void SelectedMailbox::apply(const store::Changes& changes, bool allow_expunge, bool condstore,
                            std::string& out) {
  for (store::Uid u : changes.expunged) {
    if (seq_of(u) && !expunged_elsewhere(u)) {
      pending_expunges_.insert(
          std::upper_bound(pending_expunges_.begin(), pending_expunges_.end(), u), u);
    }
  }
  if (allow_expunge) remove_pending(out);
  adopt_keywords(changes.changed.keyword_names, out);
  const std::uint32_t before = exists();
  for (const auto& m : changes.changed.messages) {
    if (m.uid >= uidnext_) {
      messages_.push_back(m);
      continue;
    }
    std::uint32_t s = seq_of(m.uid);
    if (s == 0) continue;
    auto& mine = messages_[s - 1];
    bool flags_differ = mine.flags != m.flags || mine.keywords != m.keywords;
    mine.modseq = m.modseq;
    if (!flags_differ) continue;
    mine.flags = m.flags;
    mine.keywords = m.keywords;
    fmt::format_to(std::back_inserter(out), "* {} FETCH (UID {} FLAGS {}", s, m.uid,
                   format_flags(m.flags, m.keywords, keyword_names_, is_recent(m.uid)));
    if (condstore) fmt::format_to(std::back_inserter(out), " MODSEQ ({})", m.modseq);
    out += ")\r\n";
  }
  std::sort(messages_.begin() + before, messages_.end(),
            [](const auto& a, const auto& b) { return a.uid < b.uid; });
  if (exists() != before) fmt::format_to(std::back_inserter(out), "* {} EXISTS\r\n", exists());
  uidnext_ = std::max(uidnext_, changes.uidnext);
  highest_modseq_ = std::max(highest_modseq_, changes.highest_modseq);
}

}  // namespace postern::node::imap
