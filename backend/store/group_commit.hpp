// Group commit of appends: when several threads append to one account at the
// same moment (ten IMAP clients, the SMTP queue), one of them commits every
// waiting message in a single AccountStore::append_batch: one index commit and
// one syncfs (SyncMode::Batch; Ordered: one directory fsync) for the group
// instead of one of each per message. A lone append pays nothing extra: it
// commits at once. The leader does not wait for followers: with syncfs at
// about 1 ms, ten IMAP clients on two cores were CPU-bound (batches of 4-5),
// so a wait would only add latency.
//
// BLOCKING, like every store call (worker pool). Durability and results are
// exactly those of AccountStore::append for each message: the call returns
// when its message is committed, with its own UID. If a group's batch fails
// (one message over quota, a bad keyword), each of its messages is retried
// alone, so one message's fault never fails another's append.
#pragma once

#include "backend/store/account_store.hpp"

namespace postern::node::store {

StoreResult<AppendResult> append_grouped(AccountStore& account, MailboxId mailbox,
                                         const NewMessage& message);

}  // namespace postern::node::store
