#include "backend/delivery/message_spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "backend/mime/imap_format.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "backend/store/durable_file.hpp"

namespace postern::node::delivery {

namespace {

// Converted bytes are written in blocks of about this size: few syscalls,
// bounded memory whatever the caller's chunk size.
constexpr std::size_t kBlock = 64 * 1024;

std::string errno_text(std::string_view op, const std::string& path, int err) {
  return fmt::format("{} {}: {}", op, path, std::strerror(err));
}

}  // namespace

store::MessageMeta meta_for(const mime::MessagePart& root) {
  store::MessageMeta meta;
  meta.structure = mime::serialize(root);
  meta.envelope = mime::envelope_to_imap(root.envelope);
  return meta;
}

tl::expected<MessageSpool, std::string> MessageSpool::create(const std::string& dir) {
  // 128 random bits: no collision with another process spooling into the
  // same folder, and O_EXCL makes sure of it.
  auto name = store::random_hex(16);
  if (!name) return tl::unexpected(fmt::format("no random name for a file in {}", dir));
  std::string path = dir + "/spool-" + *name;
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  store::UniqueFd fd(::open(path.c_str(), kFlags, 0600));
  if (!fd && errno == ENOENT) {  // the folder itself is made on first use only
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return tl::unexpected(errno_text("mkdir", dir, errno));
    fd = store::UniqueFd(::open(path.c_str(), kFlags, 0600));
  }
  if (!fd) return tl::unexpected(errno_text("create", path, errno));
  return MessageSpool(std::move(path), std::move(fd));
}

MessageSpool::MessageSpool(std::string path, store::UniqueFd fd)
    : path_(std::move(path)), fd_(std::move(fd)), parser_(std::make_unique<mime::MessageParser>()) {
  buffer_.reserve(kBlock + kBlock / 8);
}

MessageSpool::MessageSpool(MessageSpool&& other) noexcept
    : path_(std::exchange(other.path_, {})),
      fd_(std::move(other.fd_)),
      parser_(std::move(other.parser_)),
      buffer_(std::move(other.buffer_)),
      size_(other.size_),
      last_was_cr_(other.last_was_cr_),
      failed_(other.failed_),
      handed_over_(other.handed_over_) {}

MessageSpool& MessageSpool::operator=(MessageSpool&& other) noexcept {
  if (this != &other) {
    discard();
    path_ = std::exchange(other.path_, {});
    fd_ = std::move(other.fd_);
    parser_ = std::move(other.parser_);
    buffer_ = std::move(other.buffer_);
    size_ = other.size_;
    last_was_cr_ = other.last_was_cr_;
    failed_ = other.failed_;
    handed_over_ = other.handed_over_;
  }
  return *this;
}

MessageSpool::~MessageSpool() {
  discard();
}

void MessageSpool::discard() noexcept {
  fd_.reset();
  if (!path_.empty() && !handed_over_) ::unlink(path_.c_str());
  path_.clear();
}

tl::expected<void, std::string> MessageSpool::write(std::string_view bytes) {
  if (failed_ || handed_over_ || !fd_) return tl::unexpected(std::string("spool not writable"));
  // A block at a time, so a big write (a 50 MB APPEND literal) never has a
  // converted copy of itself in memory.
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, kBlock);
    bytes.remove_prefix(piece.size());
    std::size_t converted_from = buffer_.size();
    while (!piece.empty()) {
      const void* hit = std::memchr(piece.data(), '\n', piece.size());
      std::size_t n = hit != nullptr ? static_cast<const char*>(hit) - piece.data() : piece.size();
      if (n > 0) {
        buffer_.append(piece.data(), n);
        last_was_cr_ = piece[n - 1] == '\r';
      }
      if (hit == nullptr) break;
      // A bare LF becomes CRLF; a CR that ended the previous piece pairs with it.
      buffer_.append(last_was_cr_ ? "\n" : "\r\n");
      last_was_cr_ = false;
      piece.remove_prefix(n + 1);
    }
    parser_->feed(std::string_view(buffer_).substr(converted_from));
    if (buffer_.size() >= kBlock) {
      if (auto flushed = flush(); !flushed) return flushed;
    }
  }
  return {};
}

tl::expected<void, std::string> MessageSpool::flush() {
  std::string_view rest = buffer_;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = true;
      return tl::unexpected(errno_text("write", path_, errno));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
    size_ += static_cast<std::uint64_t>(n);
  }
  buffer_.clear();
  return {};
}

tl::expected<store::NewMessage, std::string> MessageSpool::finish(Durability durability) {
  if (failed_ || handed_over_ || !fd_) return tl::unexpected(std::string("spool not writable"));
  if (auto flushed = flush(); !flushed) return tl::unexpected(flushed.error());
  if (durability == Durability::Now && ::fsync(fd_.get()) != 0) {
    failed_ = true;
    return tl::unexpected(errno_text("fsync", path_, errno));
  }
  if (::close(fd_.release()) != 0) {
    failed_ = true;
    return tl::unexpected(errno_text("close", path_, errno));
  }
  store::NewMessage m;
  m.source_path = path_;
  m.source_mode = store::SourceMode::Move;
  m.size = size_;
  m.internal_date = store::InternalDate{static_cast<std::int64_t>(std::time(nullptr)), 0};
  m.meta = meta_for(parser_->finish());
  handed_over_ = true;
  return m;
}

}  // namespace postern::node::delivery
