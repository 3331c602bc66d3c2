// Why a store operation failed. Every public store method returns
// StoreResult<T> (tl::expected); nothing on the data path throws. The IMAP,
// POP3 and WebMail layers map these values to their replies: the first group
// are the client's fault or the mailbox's state (tagged NO with a response
// code), the second are the server's (NO [SERVERBUG] / [UNAVAILABLE], logged).
#pragma once

#include <string_view>

#include <tl/expected.hpp>

namespace postern::node::store {

enum class StoreError {
  // The request cannot be honoured as asked.
  NoSuchMailbox,  // no mailbox by that name or id (or it was deleted meanwhile)
  NoSuchMessage,  // no message with that uid
  AlreadyExists,  // CREATE / RENAME target exists
  NotAllowed,     // RFC 3501 forbids it: delete INBOX, a \Noselect mailbox's messages...
  BadArgument,    // malformed name, keyword, address, size mismatch
  Limit,          // a bound was hit: keywords per mailbox, name length, UID space
  QuotaExceeded,  // the account's byte quota would be exceeded
  // The server could not do it.
  NoSpace,  // ENOSPC / EDQUOT / SQLITE_FULL
  Busy,     // another process kept the account locked or SQLite busy past the timeouts
  Io,       // any other system or SQLite error (logged where it happened)
  Corrupt,  // the index contradicts itself or is from a newer schema
};

// A stable lower-case name for logs ("no_such_mailbox").
std::string_view store_error_name(StoreError error);

template <class T>
using StoreResult = tl::expected<T, StoreError>;

inline tl::unexpected<StoreError> fail(StoreError error) {
  return tl::unexpected<StoreError>(error);
}

}  // namespace postern::node::store
