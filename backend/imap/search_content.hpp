// Where SEARCH gets message content from: an interface the evaluator pulls
// from lazily, one message at a time, and its implementation over the store.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "backend/mime/message_part.hpp"
#include "backend/store/account_store.hpp"
#include "backend/store/store_error.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::imap {

// The content of one message at a time. run_search calls start() for a
// message, then any of the others, each as often as it likes (an
// implementation caches), then start() for the next message. Nothing is read
// before it is asked for. NoSuchMessage from any call means the message went
// away (expunged meanwhile): it then simply does not match.
class ContentSource {
 public:
  virtual ~ContentSource() = default;

  // Makes `message` current; data of the previous one may be dropped.
  // `body_wanted`: the search has body keys, so the body will probably be read
  // too (an implementation may then read the whole message at once).
  virtual void start(const store::MessageInfo& message, bool body_wanted) = 0;

  // The raw top-level header, through the empty line that ends it. Valid
  // until the next start().
  virtual store::StoreResult<std::string_view> header() = 0;

  // The MIME structure (offsets into the message file). Valid until the next
  // start().
  virtual store::StoreResult<const mime::MessagePart*> structure() = 0;

  // The message's bytes [begin, end), clipped to its size. Valid until the
  // next range() or start().
  virtual store::StoreResult<std::string_view> range(std::uint64_t begin, std::uint64_t end) = 0;

  // The envelope (first Date, Subject, From... as the parser builds it) when
  // the source has it cached, without reading the message; nullptr when not,
  // and the caller then builds it from header(). Valid until the next start().
  virtual store::StoreResult<const mime::Envelope*> envelope() { return nullptr; }
};

// Reads from `account` (BLOCKING: run on the worker pool): the bytes with
// pread into buffers reused from message to message (a message up to 1 MiB in
// at most two reads, a larger one by the ranges asked for); the structure of a
// message up to 16 KB by parsing it, of a larger one from its meta (parsing
// the file when the meta is empty or unreadable); the envelope from the metas
// of the whole mailbox, read in one query the first time one is asked for.
// The returned object keeps a reference to `account`; use it on one thread.
std::unique_ptr<ContentSource> store_content_source(store::AccountStore& account,
                                                    store::MailboxId mailbox);

}  // namespace postern::node::imap
