// A session's view of its selected mailbox (RFC 3501 section 2.3.1): the
// messages in sequence-number order as this client knows them, which may lag
// the store until the session reports the changes in untagged responses.
//
// Owned by one session, used on its loop only. Pure bookkeeping: it never
// touches the store; the session feeds it store::Changes and sends the lines
// it produces.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/store/store_types.hpp"
#include "core/imap_string.hpp"

namespace postern::node::imap {

class SelectedMailbox {
 public:
  SelectedMailbox(store::MailboxInfo info, bool read_only, store::MessageList list,
                  const store::MailboxStatus& status);

  store::MailboxId id() const { return info_.id; }
  const store::MailboxInfo& info() const { return info_; }
  bool read_only() const { return read_only_; }
  std::uint32_t uidvalidity() const { return info_.uidvalidity; }
  store::Uid uidnext() const { return uidnext_; }
  store::ModSeq highest_modseq() const { return highest_modseq_; }
  std::uint32_t exists() const { return static_cast<std::uint32_t>(messages_.size()); }
  const std::vector<store::MessageInfo>& messages() const { return messages_; }
  const std::vector<std::string>& keyword_names() const { return keyword_names_; }
  store::Uid max_uid() const { return messages_.empty() ? 0 : messages_.back().uid; }

  // Sequence number of `uid` (1-based), 0 if not in the view.
  std::uint32_t seq_of(store::Uid uid) const;
  // Indexes (0-based, ascending, distinct) of the messages a sequence set or
  // UID set names; numbers that name no message are left out.
  std::vector<std::uint32_t> resolve(const core::imap::SequenceSet& set, bool uid) const;
  // The UIDs at `indexes`, as ranges.
  store::UidSet uid_set(std::span<const std::uint32_t> indexes) const;
  // Formats a list of UIDs the way UIDPLUS wants them: "4:6,9".
  static std::string format_uids(std::span<const store::Uid> uids);

  bool is_recent(store::Uid uid) const;
  void add_recent(store::RecentRange range);
  std::uint32_t recent_count() const;
  // One range covering every \Recent UID of this session (SEARCH RECENT);
  // another session's claims between ours would be counted too.
  store::RecentRange recent_hull() const;
  // First sequence number without \Seen, 0 if none.
  std::uint32_t first_unseen() const;

  // Brings the view up to date with `changes` and appends the untagged
  // responses that tell the client: EXPUNGE (only when `allow_expunge`;
  // otherwise they wait for the next call that allows them), FETCH for flag
  // changes it does not know yet (with UID, and MODSEQ when `condstore`),
  // FLAGS/PERMANENTFLAGS when new keywords appeared, EXISTS for new
  // messages (add_recent() first for those this session claimed).
  void apply(const store::Changes& changes, bool allow_expunge, bool condstore, std::string& out);
  // Expunges reported to this session by its own command (EXPUNGE, MOVE).
  void expunge(std::span<const store::Uid> uids, std::string& out);
  // Flag updates from this session's own STORE; appends nothing.
  void update(const store::MessageList& changed);
  // UIDs expunged elsewhere and not yet reported.
  bool has_pending_expunges() const { return !pending_expunges_.empty(); }
  // Whether the message at `index` was expunged elsewhere (its data is gone).
  bool expunged_elsewhere(store::Uid uid) const;

  std::string flags_lines() const;  // "* FLAGS (...)" and "* OK [PERMANENTFLAGS ...]"

 private:
  void adopt_keywords(const std::vector<std::string>& names, std::string& out);
  void remove_pending(std::string& out);

  store::MailboxInfo info_;
  bool read_only_;
  store::Uid uidnext_;
  store::ModSeq highest_modseq_;
  std::vector<store::MessageInfo> messages_;
  std::vector<std::string> keyword_names_;
  std::vector<store::RecentRange> recent_;
  std::vector<store::Uid> pending_expunges_;  // ascending
};

}  // namespace postern::node::imap
