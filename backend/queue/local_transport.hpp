// Route::Local: one queued message into one account of this node's store.
// The queue's message file is linked (SourceMode::Link), not copied: several
// local recipients share one inode, and the queue removes its own name when
// every recipient is done. store::append_grouped joins concurrent appends to
// the same account (other queued messages, IMAP APPEND) into one commit and
// one sync.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "backend/queue/envelope.hpp"
#include "backend/queue/remote_transport.hpp"
#include "backend/store/store.hpp"

namespace postern::node::queue {

struct LocalJob {
  Recipient recipient;  // address (canonical), mailbox ("" = INBOX)
  std::string message_path;
  std::uint64_t size = 0;
  store::MessageMeta meta;
  std::int64_t arrival = 0;  // INTERNALDATE
};

struct LocalResult {
  RecipientOutcome outcome;   // the reply in SMTP's words, for logs and DSNs
  bool message_gone = false;  // the queue file was removed (posternctl queue delete)
};

// BLOCKING (worker pool). An account the store refuses to open by that
// address is a permanent failure (550 5.1.1); other store errors are
// temporary or permanent as delivery::classify says. A folder that does not
// exist or is \Noselect means INBOX.
LocalResult deliver_to_store(store::Store& store, const LocalJob& job);

// The cached strings the store keeps (delivery::meta_for) for a message file
// recovered at start-up, parsed once. nullopt when it cannot be read. BLOCKING.
std::optional<store::MessageMeta> message_meta_from_file(const std::string& path);

}  // namespace postern::node::queue
