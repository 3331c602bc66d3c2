// posternctl's queue commands, on a node's queue folder (safe while the node
// runs) and its admin listener:
//
//   posternctl -c NODECONF queue list         one line per queued message
//   posternctl -c NODECONF queue delete ID    remove one message
//   posternctl -c NODECONF queue flush        ask the running node to retry all now
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

#include "core/net_address.hpp"

namespace postern::tools {

// Prints one line per message, in arrival order:
//   ID SIZE ARRIVAL <sender> [bounce=1] RCPT=STATE:ROUTE ["LAST REPLY"] ...
//   06B01EE4FBA8AA7DBE 1834 2026-11-21T18:33:20Z <bob@example.org> alice@example.com=pending:local
//       "451 4.3.0 <alice@example.com>: store error: busy" x@out.test=delivered:mx "250 ok"
// (one line; wrapped here), or "queue is empty". Exit 0, or 75 when the
// folder cannot be read.
int run_queue_list(const std::string& queue_path, std::ostream& out, std::ostream& err);

// Exit 0 removed, 67 no such message, 64 when ID is not a queue id.
int run_queue_delete(const std::string& queue_path, const std::string& id, std::ostream& out,
                     std::ostream& err);

// POSTs /queue/flush to the node's admin listener. Exit 0, 75 when the node
// does not answer (not running), 78 without an admin address in the file.
int run_queue_flush(const std::optional<core::Endpoint>& admin, std::ostream& out,
                    std::ostream& err);

}  // namespace postern::tools
