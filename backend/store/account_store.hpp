// One account's mailboxes and messages (DESIGN.md section 6, "store/").
//
// On disk, under the account directory (see account_path.hpp, message_dir.hpp):
//   index.sqlite   the index (schema.hpp): mailboxes, UIDs, flags, modseqs, meta
//   msg/xx/<name>  one file per message, CRLF bytes as served, written once
//   tmp/           cross-filesystem copies in progress
//   lock           flock(2)ed while open: shared by every process using the
//                  account, exclusive only while one opener reconciles
//
// BLOCKING: every method does disk I/O (fsync, syncfs included) and must run on the
// node's worker pool, never on an event loop thread (DESIGN.md section 3).
//
// THREAD-SAFETY: every method may be called from any thread at any time; one
// AccountStore is shared by all sessions of the account in a process (Store
// hands out the same shared_ptr). Index access is serialised by one mutex
// around the object's single SQLite connection. Message-file I/O (link, copy,
// fsync of files and directories) happens OUTSIDE that mutex, so an append of a
// large message never stalls another session's FETCH.
//
// SEVERAL PROCESSES (the node, posternctl deliver, later the SMTP queue) may
// have one account open at once, each with its own AccountStore and SQLite
// connection; SQLite's WAL mode arbitrates. Hence:
//   - nothing the index holds is cached in memory between calls: uidnext,
//     modseqs and keyword bits are read inside the write transaction that uses
//     them, and multi-query reads (list, status, changes_since...) run in one
//     read transaction so that they see one snapshot;
//   - a writer waits up to a busy timeout (5 s) for another's transaction, then
//     fails Busy (temporary);
//   - a row may outlive its file by a moment when another process expunges:
//     open_message() then reports NoSuchMessage, COPY skips the message;
//   - reconciliation (below) runs only in an opener that gets the lock
//     exclusively without waiting, i.e. when no other process has the account
//     open: elsewhere, files of appends in flight would look like orphans.
//     Other openers wait (up to 30 s, else Busy) for a shared lock.
//
// DURABILITY: when append() / append_batch() returns, its messages survive a
// crash. How, is StoreOptions::sync_mode:
//   Ordered: each message file is fsynced, its directory fsynced, then the
//     transaction adding the rows commits with synchronous=FULL. After a crash
//     a file may exist without a row (never acknowledged: deleted at the next
//     exclusive open) but never the reverse. About three journal commits per
//     append call.
//   Batch (default): the files are linked without any fsync, the rows commit
//     with synchronous=NORMAL (in the WAL, not fsynced), then one syncfs(2) on
//     the account's filesystem makes files, directory entries and WAL durable
//     in one journal commit; only then does the call return. A crash inside
//     that window may leave rows whose file is missing or short (never
//     acknowledged): the next exclusive open expunges them (logged
//     store_missing_file / store_short_file), as it deletes files without a
//     row. Meanwhile other sessions may already see (and COPY) such a
//     message; a COPY of one is caught by the same check. syncfs writes back
//     every dirty file of the filesystem, other programs' too.
// Every other write (flags, expunge, copy, mailboxes) commits with
// synchronous=FULL, and a COPY fsyncs its new links first, in both modes.
// Files are unlinked only after the commit that removed their rows.
//
// Mailboxes are addressed by MailboxId for message operations (stable across
// RENAME, never reused); a deleted mailbox yields NoSuchMailbox, a \Noselect
// one NotAllowed. Every change takes the next per-account modseq; each mailbox
// records its HIGHESTMODSEQ and an expunge log, so changes_since() gives other
// sessions what they need for EXISTS, EXPUNGE and FETCH FLAGS.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/store/message_dir.hpp"
#include "backend/store/sqlite_db.hpp"
#include "backend/store/store_error.hpp"
#include "backend/store/store_types.hpp"
#include "backend/store/unique_fd.hpp"

namespace postern::node::store {

struct StoredMessage;

class AccountStore {
 public:
  // Opens the account in `dir` (the parent must exist), creating it with
  // INBOX, Sent, Drafts, Trash, Junk and Archive (SPECIAL-USE, subscribed) if
  // new, then, if no other process has it open, reconciles index and files:
  // files without a row are deleted, rows without a file are expunged (logged),
  // tmp/ is emptied. Busy if another process holds it exclusively for longer
  // than the lock wait. Use Store::account() rather than calling this directly.
  static StoreResult<std::shared_ptr<AccountStore>> open(std::string dir, std::string address,
                                                         StoreOptions options);
  AccountStore(const AccountStore&) = delete;
  AccountStore& operator=(const AccountStore&) = delete;
  ~AccountStore();

  const std::string& address() const { return address_; }
  const std::string& directory() const { return dir_; }

  // ---- Mailboxes (names: see mailbox_name.hpp) --------------------------

  // RFC 3501 CREATE: missing ancestors are created as real mailboxes; an
  // existing \Noselect name becomes selectable (with a new id). AlreadyExists
  // for INBOX or an existing selectable name.
  StoreResult<MailboxInfo> create_mailbox(std::string_view name);
  // RFC 3501 DELETE: INBOX -> NotAllowed; with inferiors, a \Noselect mailbox
  // -> NotAllowed, a selectable one loses its messages and becomes \Noselect;
  // \Noselect ancestors left without inferiors go too. Subscriptions stay.
  StoreResult<void> delete_mailbox(std::string_view name);
  // RFC 3501 RENAME: inferiors and subscriptions follow; ids and UIDVALIDITY
  // are kept; missing ancestors of `to` are created. AlreadyExists if `to`
  // exists, NotAllowed into its own subtree. Renaming INBOX moves its messages
  // into a new mailbox `to` (new UIDs) and leaves INBOX, empty, in place.
  StoreResult<void> rename_mailbox(std::string_view from, std::string_view to);
  // Every mailbox (including \Noselect ones), by name.
  StoreResult<std::vector<MailboxInfo>> list_mailboxes();
  StoreResult<MailboxInfo> find_mailbox(std::string_view name);
  // LSUB: any valid name may be subscribed, existing or not.
  StoreResult<void> subscribe(std::string_view name);
  StoreResult<void> unsubscribe(std::string_view name);
  StoreResult<std::vector<std::string>> subscriptions();

  StoreResult<MailboxStatus> status(MailboxId mailbox);
  // \Recent (RFC 3501 2.3.2): hands the caller the UIDs no session has claimed
  // yet and marks them claimed. Call on SELECT (not EXAMINE) and when a
  // selected session learns of new messages.
  StoreResult<RecentRange> claim_recent(MailboxId mailbox);
  // Changes with a modseq above `since` (see Changes).
  StoreResult<Changes> changes_since(MailboxId mailbox, ModSeq since);
  StoreResult<Usage> usage();

  // ---- Messages --------------------------------------------------------

  // Adds one message (see NewMessage). BadArgument: unreadable source, size
  // mismatch, bad flags or keywords; QuotaExceeded; Limit (keywords, UIDs).
  StoreResult<AppendResult> append(MailboxId mailbox, const NewMessage& message);
  // Group commit: all or none, one transaction and, in Batch mode, one
  // syncfs for the lot (Ordered: one fsync per file and one directory fsync,
  // the files share a shard). Results in input order.
  StoreResult<std::vector<AppendResult>> append_batch(MailboxId mailbox,
                                                      std::span<const NewMessage> messages);

  // The whole mailbox in one query, ascending uid.
  StoreResult<MessageList> list(MailboxId mailbox);
  // The cached strings given at append (or set_meta); empty if none.
  StoreResult<MessageMeta> meta(MailboxId mailbox, Uid uid);
  // Every message of the mailbox with its meta's structure (empty if none),
  // ascending uid, in one query (account_meta.cpp). Only `structure` is read:
  // envelope and extra are left empty.
  StoreResult<std::vector<std::pair<Uid, MessageMeta>>> list_meta(MailboxId mailbox);
  StoreResult<void> set_meta(MailboxId mailbox, Uid uid, const MessageMeta& meta);
  // A read-only descriptor on the message file, for streaming.
  StoreResult<MessageFile> open_message(MailboxId mailbox, Uid uid);

  // STORE: Add / Remove / Replace `flags` and `keywords` on the messages in
  // `uids`. With `unchanged_since` (RFC 7162 CONDSTORE), a message whose
  // modseq is above it is left alone and reported in `modified`. Messages
  // whose flags change get one new modseq; unchanged ones keep theirs.
  StoreResult<FlagUpdate> store_flags(MailboxId mailbox, const UidSet& uids, FlagMode mode,
                                      FlagBits flags, std::span<const std::string> keywords,
                                      std::optional<ModSeq> unchanged_since = std::nullopt);
  // EXPUNGE (or UID EXPUNGE with `uids`): removes the \Deleted messages;
  // returns their uids ascending. Files are unlinked after the commit.
  StoreResult<std::vector<Uid>> expunge(MailboxId mailbox,
                                        const std::optional<UidSet>& uids = std::nullopt);
  // COPY: new rows in `to` for the messages of `uids` in `from`, whose files
  // are hard links of the originals; flags, keywords, date and meta are kept.
  StoreResult<CopyResult> copy(MailboxId from, const UidSet& uids, MailboxId to);
  // MOVE (RFC 6851): one transaction, no file I/O; the moved uids are logged
  // as expunged in `from`.
  StoreResult<CopyResult> move(MailboxId from, const UidSet& uids, MailboxId to);

 private:
  struct Key {};

 public:
  AccountStore(Key, std::string dir, std::string address, StoreOptions options, UniqueFd lock);

 private:
  StoreResult<void> prepare_index();
  StoreResult<void> create_default_mailboxes();
  StoreResult<void> reconcile();
  StoreResult<std::vector<AppendResult>> commit_appends(MailboxId mailbox,
                                                        std::span<const NewMessage> messages,
                                                        std::span<const std::string> names,
                                                        bool deferred_sync);
  StoreResult<CopyResult> commit_copies(MailboxId from, MailboxId to,
                                        std::span<const StoredMessage> copied,
                                        std::span<const std::string> names);
  void remove_files(const std::vector<std::string>& names) const;

  const std::string dir_;
  const std::string address_;
  const StoreOptions options_;
  UniqueFd lock_;  // flock(LOCK_SH) held for the object's life
  MessageDir files_;

  std::mutex mutex_;  // guards db_
  Database db_;
};

}  // namespace postern::node::store
