// Reading stored messages for the API, on a worker thread (BLOCKING): the
// bytes of a message, its MIME structure (from the meta cached at delivery,
// else by parsing), and a structure good enough for a list entry when no meta
// is cached (the header only).
#pragma once

#include <cstdint>
#include <string>

#include "backend/mime/message_part.hpp"
#include "backend/store/account_store.hpp"
#include "backend/webmail/message_view.hpp"

namespace postern::node::webmail {

// The whole message. BadArgument when it is larger than `max_bytes`.
store::StoreResult<std::string> read_message(store::AccountStore& account, store::MailboxId mailbox,
                                             store::Uid uid, std::uint64_t max_bytes);

// The structure from the cached meta; when there is none (or it does not
// decode), parsed from `bytes` if given, else from the file.
store::StoreResult<mime::MessagePart> message_structure(store::AccountStore& account,
                                                        store::MailboxId mailbox, store::Uid uid,
                                                        const std::string* bytes = nullptr);

// The top-level header of a message without cached meta, parsed (envelope
// set, no parts): for a list entry. Reads at most 64 KiB.
store::StoreResult<mime::MessagePart> header_structure(store::AccountStore& account,
                                                       store::MailboxId mailbox, store::Uid uid);

// A message read whole, its structure and the reader's view of it.
struct LoadedMessage {
  std::string bytes;
  mime::MessagePart root;
  MessageView view;
};
// Messages up to this size are opened in the reader (and forwarded).
inline constexpr std::uint64_t kMaxOpenedMessage = 128ull * 1024 * 1024;
store::StoreResult<LoadedMessage> load_message_view(store::AccountStore& account,
                                                    store::MailboxId mailbox, store::Uid uid);

// pread() of [offset, offset + length) clipped to the file; appends to `out`.
bool read_range(int fd, std::uint64_t offset, std::uint64_t length, std::string& out);

}  // namespace postern::node::webmail
