// Delivering one message into one local account: spool, parse, append
// (posternctl deliver; later the SMTP queue's local transport).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

#include "backend/store/store.hpp"

namespace postern::node::delivery {

// What the caller tells its sender: UnknownMailbox (the account cannot be
// opened by that address), Temporary (try again later: busy, disk, I/O),
// Permanent (this message can never be delivered: too big for the quota,
// malformed). The string says why, for a log or an error message.
enum class DeliveryError { UnknownMailbox, Temporary, Permanent };

using DeliveryResult = tl::expected<store::AppendResult, std::pair<DeliveryError, std::string>>;

// How a store error reads to a sender.
DeliveryError classify(store::StoreError error);

// The spool folder for `store`: <root>/tmp (created on first use by the spool).
std::string spool_directory(const store::Store& store);

// Spools `bytes` and appends them to mailbox `folder` of the account of the
// canonical `address`; INBOX when `folder` is empty, does not exist or is
// \Noselect. Opens (and, if new, creates) the account: the caller must have
// checked that the address is a user of this node. BLOCKING.
DeliveryResult deliver_bytes(store::Store& store, const std::string& address,
                             const std::string& folder, std::string_view bytes);

// The same, reading the message from `in` until end of file (stdin for an
// LDA). A read error is Temporary.
DeliveryResult deliver_stream(store::Store& store, const std::string& address,
                              const std::string& folder, std::FILE* in);

}  // namespace postern::node::delivery
