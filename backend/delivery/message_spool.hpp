// Receiving one message into a file the store can take over (IMAP APPEND,
// posternctl deliver, later the SMTP queue).
//
//   auto spool = MessageSpool::create(store.root() + "/tmp");   // worker thread
//   spool->write(chunk1); spool->write(chunk2);
//   auto message = spool->finish();        // NewMessage: source_path, size, meta
//   message->flags = kFlagSeen;            // the caller's part
//   account->append(mailbox, *message);    // the store moves the file in
//
// The bytes go to a new temporary file in `dir` with every bare LF turned into
// CRLF (messages are stored as served, RFC 3501 wants CRLF), and through
// mime::MessageParser on the way, so the structure is known once the last byte
// is written and the file is never read back. `dir` must be on the store's
// filesystem (use <store root>/tmp) so that the store links instead of copying.
//
// BLOCKING (file I/O, fsync): use on a worker thread, never on an event loop.
// Not thread-safe: one spool is fed by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "backend/mime/message_part.hpp"
#include "backend/store/store_types.hpp"
#include "backend/store/unique_fd.hpp"

namespace postern::node::mime {
class MessageParser;
}

namespace postern::node::delivery {

class MessageSpool {
 public:
  // Creates `dir` (one level) if missing and a new file in it. The error text
  // names the path and the system error.
  static tl::expected<MessageSpool, std::string> create(const std::string& dir);

  MessageSpool(MessageSpool&&) noexcept;
  MessageSpool& operator=(MessageSpool&&) noexcept;
  MessageSpool(const MessageSpool&) = delete;
  MessageSpool& operator=(const MessageSpool&) = delete;
  // Unlinks the file unless finish() handed it over.
  ~MessageSpool();

  // Appends `bytes` (any split: a CR at the end of one call and the LF at the
  // start of the next stay one CRLF). After an error the spool is unusable.
  tl::expected<void, std::string> write(std::string_view bytes);

  // Whether finish() fsyncs the file. ByStore when the message goes straight
  // to AccountStore::append / append_batch / store::append_grouped: they make
  // the file durable themselves before returning (its own fsync, or one
  // syncfs for a whole batch, see account_store.hpp DURABILITY), so a spool
  // fsync would be one more journal commit per message for nothing. Now for
  // anything else (Store::deliver_linked wants a durable file, a queue keeps
  // the file).
  enum class Durability : bool { Now, ByStore };

  // Ends the message (a last line without a line end is kept as it is),
  // fsyncs the file (unless ByStore) and hands it over: source_path,
  // source_mode Move, size and meta are set; flags and keywords are empty and
  // internal_date is now (zone 0), for the caller to change. From then on the
  // file is the caller's (or, after a successful append, the store's); the
  // spool does not remove it.
  tl::expected<store::NewMessage, std::string> finish(Durability durability = Durability::Now);

  // Bytes in the file so far (after LF -> CRLF).
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MessageSpool(std::string path, store::UniqueFd fd);
  tl::expected<void, std::string> flush();
  void discard() noexcept;

  std::string path_;
  store::UniqueFd fd_;
  std::unique_ptr<mime::MessageParser> parser_;
  std::string buffer_;  // converted bytes not yet written
  std::uint64_t size_ = 0;
  bool last_was_cr_ = false;  // the previous byte written was a CR
  bool failed_ = false;
  bool handed_over_ = false;
};

// The cached strings the IMAP server reads back through AccountStore::meta():
// structure = mime::serialize(root) (mime::deserialize gives the parts back),
// envelope = mime::envelope_to_imap(root.envelope) (the ready-made ENVELOPE).
store::MessageMeta meta_for(const mime::MessagePart& root);

}  // namespace postern::node::delivery
