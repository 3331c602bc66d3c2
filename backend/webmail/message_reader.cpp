#include "backend/webmail/message_reader.hpp"

#include <unistd.h>

#include <cerrno>

#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"

namespace postern::node::webmail {

namespace {

constexpr std::uint64_t kHeaderRead = 64 * 1024;

}  // namespace

bool read_range(int fd, std::uint64_t offset, std::uint64_t length, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + length);
  std::uint64_t got = 0;
  while (got < length) {
    const ssize_t n =
        ::pread(fd, out.data() + start + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.resize(start);
      return false;
    }
    if (n == 0) break;  // the file is shorter than the row says
    got += static_cast<std::uint64_t>(n);
  }
  out.resize(start + got);
  return true;
}

store::StoreResult<std::string> read_message(store::AccountStore& account, store::MailboxId mailbox,
                                             store::Uid uid, std::uint64_t max_bytes) {
  auto file = account.open_message(mailbox, uid);
  if (!file) return tl::unexpected(file.error());
  if (file->size > max_bytes) return store::fail(store::StoreError::BadArgument);
  std::string out;
  if (!read_range(file->fd.get(), 0, file->size, out)) return store::fail(store::StoreError::Io);
  return out;
}

store::StoreResult<mime::MessagePart> message_structure(store::AccountStore& account,
                                                        store::MailboxId mailbox, store::Uid uid,
                                                        const std::string* bytes) {
  auto meta = account.meta(mailbox, uid);
  if (!meta) return tl::unexpected(meta.error());
  if (!meta->structure.empty()) {
    if (auto root = mime::deserialize(meta->structure)) return std::move(*root);
  }
  if (bytes != nullptr) return mime::parse_message(*bytes);
  auto file = account.open_message(mailbox, uid);
  if (!file) return tl::unexpected(file.error());
  // Parsed a block at a time: the parser never holds a body.
  mime::MessageParser parser;
  std::string block;
  for (std::uint64_t offset = 0; offset < file->size; offset += kHeaderRead) {
    block.clear();
    if (!read_range(file->fd.get(), offset, kHeaderRead, block)) {
      return store::fail(store::StoreError::Io);
    }
    if (block.empty()) break;
    parser.feed(block);
  }
  return parser.finish();
}

store::StoreResult<mime::MessagePart> header_structure(store::AccountStore& account,
                                                       store::MailboxId mailbox, store::Uid uid) {
  auto file = account.open_message(mailbox, uid);
  if (!file) return tl::unexpected(file.error());
  std::string head;
  if (!read_range(file->fd.get(), 0, std::min(file->size, kHeaderRead), head)) {
    return store::fail(store::StoreError::Io);
  }
  // Only the header: the body (perhaps cut in the middle) is not looked at.
  std::size_t end = head.find("\r\n\r\n");
  end = end == std::string::npos ? head.size() : end + 4;
  head.resize(end);
  mime::MessagePart root = mime::parse_message(head);
  root.children.clear();
  return root;
}

store::StoreResult<LoadedMessage> load_message_view(store::AccountStore& account,
                                                    store::MailboxId mailbox, store::Uid uid) {
  LoadedMessage out;
  auto bytes = read_message(account, mailbox, uid, kMaxOpenedMessage);
  if (!bytes) return tl::unexpected(bytes.error());
  out.bytes = std::move(*bytes);
  auto root = message_structure(account, mailbox, uid, &out.bytes);
  if (!root) return tl::unexpected(root.error());
  out.root = std::move(*root);
  out.view = make_message_view(out.bytes, out.root);
  return out;
}

}  // namespace postern::node::webmail
