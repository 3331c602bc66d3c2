// Value types of the message store's API (see account_store.hpp).
//
// Mailbox names are UTF-8 with "/" as the hierarchy separator (the IMAP layer
// converts modified UTF-7); "INBOX" is matched case-insensitively. System flags
// are a bitmask; keywords are strings on the way in and a 64-bit mask per
// message on the way out, indexed into the mailbox's keyword table
// (MessageList::keyword_names) so that listing 100,000 messages stays compact.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backend/store/unique_fd.hpp"

namespace postern::node::store {

using MailboxId = std::int64_t;  // stable across RENAME, never reused in an account
using Uid = std::uint32_t;
using ModSeq = std::uint64_t;  // RFC 7162: per account, strictly increasing
using FlagBits = std::uint16_t;

// System flags. \Recent is session state (see AccountStore::claim_recent).
constexpr FlagBits kFlagSeen = 1u << 0;
constexpr FlagBits kFlagAnswered = 1u << 1;
constexpr FlagBits kFlagFlagged = 1u << 2;
constexpr FlagBits kFlagDeleted = 1u << 3;
constexpr FlagBits kFlagDraft = 1u << 4;
constexpr FlagBits kSystemFlagsMask = 0x1f;

// A mailbox knows at most this many distinct keywords; one more is StoreError::Limit
// (the IMAP layer then omits "\*" from PERMANENTFLAGS).
constexpr std::size_t kMaxKeywordsPerMailbox = 64;

// What the caller learned by parsing the message (the store never parses):
// opaque strings returned by meta() byte for byte. All empty = not cached.
struct MessageMeta {
  std::string structure;  // serialized MIME structure (BODYSTRUCTURE, part offsets)
  std::string envelope;   // serialized ENVELOPE
  std::vector<std::pair<std::string, std::string>> extra;  // any other named strings
};

// INTERNALDATE: UTC seconds plus the zone the client gave (minutes east of UTC).
struct InternalDate {
  std::int64_t seconds = 0;
  std::int16_t zone_minutes = 0;
};

enum class SourceMode {
  Move,  // on success the store owns the file and removes `source_path`'s name
  Link,  // the file stays at `source_path` too (the caller removes it when done)
};

// One message to append. `source_path` is a complete message (CRLF, as served)
// that the store hard-links into the account (copying with copy_file_range only
// when it lives on another filesystem); its bytes never pass through the store's
// memory. The caller must not modify the file afterwards. On failure the source
// is left exactly as it was.
struct NewMessage {
  std::string source_path;
  SourceMode source_mode = SourceMode::Move;
  FlagBits flags = 0;                 // kFlag* bits only
  std::vector<std::string> keywords;  // IMAP atoms, not starting with '\'
  InternalDate internal_date;
  std::uint64_t size = 0;  // must equal the file's size (RFC822.SIZE)
  MessageMeta meta;
};

struct AppendResult {
  std::uint32_t uidvalidity = 0;
  Uid uid = 0;
  ModSeq modseq = 0;
};

// One row of list(): 40 bytes.
struct MessageInfo {
  Uid uid = 0;
  FlagBits flags = 0;
  std::int16_t zone_minutes = 0;  // of internal_date
  std::uint64_t keywords = 0;     // bit i = MessageList::keyword_names[i]
  std::int64_t internal_date = 0;
  std::uint64_t size = 0;
  ModSeq modseq = 0;
};

struct MessageList {
  std::vector<std::string> keyword_names;  // index = bit; may end before bit 63
  std::vector<MessageInfo> messages;       // ascending uid
};

struct MailboxInfo {
  MailboxId id = 0;
  std::string name;
  std::string special_use;  // "\Sent", "\Drafts", "\Trash", "\Junk", "\Archive" or ""
  std::uint32_t uidvalidity = 0;
  bool selectable = true;  // false: \Noselect (kept because it has inferiors)
  bool subscribed = false;
  bool has_children = false;
};

struct MailboxStatus {
  MailboxId id = 0;
  std::uint32_t uidvalidity = 0;
  Uid uidnext = 1;
  ModSeq highest_modseq = 1;
  std::uint32_t messages = 0;
  std::uint32_t unseen = 0;  // without \Seen
  std::uint32_t recent = 0;  // uid >= the first not yet claimed by a session
};

// A set of UIDs as closed ranges; order, overlap and reversed ends do not matter.
// The IMAP layer resolves "*" before calling.
struct UidRange {
  Uid first = 0;
  Uid last = 0;
};
using UidSet = std::vector<UidRange>;

enum class FlagMode { Add, Remove, Replace };

struct FlagUpdate {
  // Every message of the set that passed UNCHANGEDSINCE, after the update;
  // those actually changed carry `modseq == this->modseq`.
  MessageList messages;
  std::vector<Uid> modified;  // failed UNCHANGEDSINCE (RFC 7162 [MODIFIED])
  ModSeq modseq = 0;          // of this change; 0 when nothing changed
};

struct UidMapping {
  Uid from = 0;
  Uid to = 0;
};

// COPYUID / MOVE: the destination's uidvalidity and one entry per message
// actually copied or moved, ascending source uid.
struct CopyResult {
  std::uint32_t uidvalidity = 0;
  std::vector<UidMapping> uids;
};

// What changed in a mailbox after `since` (for EXISTS / EXPUNGE / FETCH FLAGS).
// A message appended, moved in or whose flags changed appears in `changed`
// (a caller tells new ones by uid >= the uidnext it knew).
struct Changes {
  ModSeq highest_modseq = 0;
  Uid uidnext = 1;
  MessageList changed;        // ascending uid
  std::vector<Uid> expunged;  // ascending uid
};

// An open message for streaming reads; the descriptor stays valid even if the
// message is expunged meanwhile.
struct MessageFile {
  UniqueFd fd;
  std::uint64_t size = 0;
};

// [first, end) are \Recent for the session that claimed them.
struct RecentRange {
  Uid first = 1;
  Uid end = 1;
};

struct Usage {
  std::uint64_t used_bytes = 0;
  std::uint64_t quota_bytes = 0;  // 0 = unlimited
};

// How appends reach the disk (account_store.hpp, DURABILITY).
enum class SyncMode : std::uint8_t {
  Ordered,  // fsync each file, fsync its directory, then a synchronous=FULL commit
  Batch,    // link and commit unsynced (synchronous=NORMAL), then one syncfs(2)
};

struct StoreOptions {
  std::uint64_t quota_bytes = 0;  // per account; 0 = unlimited
  SyncMode sync_mode = SyncMode::Batch;
  // Store only (store.hpp, LINGER): how long an account stays open after its
  // last user let go, so that the next login skips the open; 0 = closed at once.
  std::chrono::milliseconds linger{30'000};
  // At most this many accounts are kept open for the linger (accounts in use
  // are open anyway and are never dropped from it).
  std::size_t linger_max = 512;
};

}  // namespace postern::node::store
