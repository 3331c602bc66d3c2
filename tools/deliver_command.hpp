// posternctl's local delivery agent (like Dovecot's LDA, for an MTA's
// mailbox_command or a script):
//
//   posternctl -c NODECONF deliver ADDRESS [FOLDER] < message
//
// Looks ADDRESS up in the node's directory (an alias resolves to its
// account), and appends the message from stdin to FOLDER (INBOX when absent,
// missing or \Noselect) of that account in this node's store. Safe while the
// node runs: the store takes several processes per account.
#pragma once

#include <cstdio>
#include <iosfwd>
#include <string>

#include "backend/node/node_config.hpp"

namespace postern::tools {

// Prints nothing on success (exit 0). Otherwise one line on `err` and exit 67
// (no such account, or it lives on another node), 75 (temporary: directory
// down, store busy, disk error; the sender should retry) or 77 (this message
// can never be delivered, e.g. over quota: a bounce, as Dovecot's LDA -e does).
int run_deliver(const node::NodeConfig& config, const std::string& address,
                const std::string& folder, std::FILE* in, std::ostream& err);

}  // namespace postern::tools
