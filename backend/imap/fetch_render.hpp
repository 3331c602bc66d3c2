// FETCH responses (RFC 3501 section 7.4.2, RFC 3516, RFC 7162): what to load
// for a message, and the untagged "* n FETCH (...)" built from it as text plus
// file ranges, so that message bodies go from the file to the socket without
// passing through memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "backend/imap/fetch_request.hpp"
#include "backend/mime/message_part.hpp"
#include "backend/store/account_store.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::imap {

// Response bytes: `text`, or, when `file` is set, `length` bytes of that file
// from `offset` (text is then empty).
struct Chunk {
  std::string text;
  std::shared_ptr<const store::UniqueFd> file;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// An append-only list of chunks; adjacent text is merged into one chunk.
class FetchOutput {
 public:
  void text(std::string_view bytes) { text_buffer().append(bytes); }
  // The text chunk at the end (created if the last chunk is a file range), to
  // append to in place, e.g. with fmt::format_to(std::back_inserter(...)).
  // The reference is invalidated by file() and take().
  std::string& text_buffer();
  // A file range; nothing is added when `length` is 0.
  void file(std::shared_ptr<const store::UniqueFd> fd, std::uint64_t offset, std::uint64_t length);
  // Hands over the chunks and empties the output.
  std::vector<Chunk> take();
  std::size_t text_bytes() const;  // text held, over all chunks
  std::uint64_t file_bytes() const { return file_bytes_; }
  bool empty() const { return chunks_.empty(); }

 private:
  std::vector<Chunk> chunks_;
  std::size_t closed_text_bytes_ = 0;  // text in chunks before the last
  std::uint64_t file_bytes_ = 0;
};

struct FetchMessage {
  std::uint32_t seq = 0;
  const store::MessageInfo* info = nullptr;
  std::span<const std::string> keyword_names;  // the mailbox's keyword table
  bool recent = false;
  bool flags_changed = false;  // \Seen was just set: include FLAGS even if not asked
};

struct MessageContent {
  std::optional<mime::MessagePart> structure;   // when request.needs_structure()
  std::string envelope;                         // ENVELOPE text, when needs_envelope()
  std::shared_ptr<const store::UniqueFd> file;  // when needs_file()
  std::uint64_t size = 0;                       // the file's size, when `file`
};

// BLOCKING (worker pool): loads what `request` needs: the cached meta and/or
// the message file. When the meta is empty or cannot be decoded (a message
// stored before meta existed), parses the file and stores the result back with
// set_meta (a failure to store it is logged, not returned). Returns an empty
// MessageContent for index_only() requests. NoSuchMessage if the message went.
tl::expected<MessageContent, store::StoreError> load_content(store::AccountStore& account,
                                                             store::MailboxId mailbox,
                                                             store::Uid uid,
                                                             const FetchRequest& request);

enum class FetchError {
  UnknownCte,  // BINARY of a part whose encoding is unknown: NO [UNKNOWN-CTE]
};

// Appends "* <seq> FETCH (...)\r\n" to `out`, items in request order, then
// FLAGS if `message.flags_changed` and FLAGS was not asked for. `content` may
// be null for index_only() requests, and is otherwise what load_content gave.
// Missing parts and partials beyond the data give "" (RFC 3501 6.4.5).
// On error nothing has been appended.
//
// BLOCKING when `content` is given: may pread() the file (HEADER.FIELDS,
// BINARY decoding, sections of at most kInlineBytes). Bigger sections become
// "{n}\r\n" plus a file-range chunk and are never read into memory.
// index_only() requests allocate nothing per message beyond `out`'s growth.
tl::expected<void, FetchError> render_fetch(const FetchRequest& request,
                                            const FetchMessage& message,
                                            const MessageContent* content, FetchOutput& out);

// File ranges up to this size are read into the text instead of chunked.
constexpr std::uint64_t kInlineBytes = 4096;

}  // namespace postern::node::imap
