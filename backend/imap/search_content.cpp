#include "backend/imap/search_content.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backend/imap/search_text.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "core/log.hpp"

namespace postern::node::imap {

namespace {

using store::StoreError;
using store::StoreResult;

// A message up to this size is kept whole in one buffer, read as it is
// needed: the first 4 KB (most headers fit) when only the header is wanted,
// else all of it in one pread. Typical mail is far smaller.
constexpr std::uint64_t kSmallFileBytes = 1024 * 1024;
constexpr std::size_t kFirstRead = 4096;
// Larger messages: the header is read in steps of this, up to kMaxHeaderBytes
// (mime::kDefaultMaxHeaderBytes: the parser keeps no more either), and the
// body by the ranges asked for.
constexpr std::size_t kHeaderStep = 64 * 1024;
constexpr std::size_t kMaxHeaderBytes = 1024 * 1024;
constexpr std::size_t kParseChunk = 1024 * 1024;
// Below this size the structure is parsed rather than read from the meta: the
// body is read next anyway, and parsing a message already in memory costs about
// what the index query does (~6 us for 10 KB) without taking the account's
// lock, which every session of the account shares.
constexpr std::size_t kParseBelowBytes = 16 * 1024;

class StoreContentSource final : public ContentSource {
 public:
  StoreContentSource(store::AccountStore& account, store::MailboxId mailbox)
      : account_(account), mailbox_(mailbox) {}

  void start(const store::MessageInfo& message, bool body_wanted) override {
    uid_ = message.uid;
    body_wanted_ = body_wanted;
    file_ = {};
    opened_ = false;
    small_ = false;
    loaded_all_ = false;
    data_.clear();
    header_.reset();
    structure_.reset();
  }

  StoreResult<std::string_view> header() override {
    if (header_) return *header_;
    if (auto ok = open(); !ok) return tl::unexpected(ok.error());
    if (small_) {
      if (auto ok = load(body_wanted_ ? file_.size : kFirstRead); !ok) return fail(ok);
      std::size_t length = header_length(data_);
      if (length == data_.size() && data_.size() < file_.size) {  // no end yet
        if (auto ok = load(file_.size); !ok) return fail(ok);
        length = header_length(data_);
      }
      header_ = std::string_view(data_).substr(0, length);
      return *header_;
    }
    std::size_t want = kHeaderStep;
    while (true) {
      if (auto ok = read_at(head_, 0, want); !ok) return fail(ok);
      const std::size_t length = header_length(head_);
      if (length < head_.size() || head_.size() < want || want >= kMaxHeaderBytes) {
        header_ = std::string_view(head_).substr(0, length);
        return *header_;
      }
      want = std::min(want * 2, kMaxHeaderBytes);
    }
  }

  StoreResult<const mime::MessagePart*> structure() override {
    if (structure_) return &*structure_;
    if (auto ok = open(); !ok) return tl::unexpected(ok.error());
    if (small_ && file_.size <= kParseBelowBytes) return parse_small();
    auto meta = account_.meta(mailbox_, uid_);
    if (!meta) return tl::unexpected(meta.error());
    if (!meta->structure.empty()) {
      if (auto parsed = mime::deserialize(meta->structure)) {
        structure_ = std::move(*parsed);
        return &*structure_;
      }
      core::log_warn("search_bad_meta").kv("mailbox", mailbox_).kv("uid", uid_);
    }
    if (small_) return parse_small();
    mime::MessageParser parser;
    for (std::uint64_t at = 0; at < file_.size; at += kParseChunk) {
      if (auto ok = read_at(range_, at, kParseChunk); !ok) return fail(ok);
      if (range_.empty()) break;
      parser.feed(range_);
    }
    structure_ = parser.finish();
    return &*structure_;
  }

  StoreResult<const mime::Envelope*> envelope() override {
    if (structure_) return &structure_->envelope;
    if (!metas_loaded_) {
      // One query for the mailbox instead of one per message: what makes
      // SUBJECT / FROM / SENT* over thousands of messages cheap.
      auto metas = account_.list_meta(mailbox_);
      if (!metas) return tl::unexpected(metas.error());
      metas_ = std::move(*metas);
      metas_loaded_ = true;
      next_meta_ = 0;
    }
    // The search walks ascending uids, as metas_ is sorted: usually the next.
    if (next_meta_ >= metas_.size() || metas_[next_meta_].first != uid_) {
      auto it = std::lower_bound(metas_.begin(), metas_.end(), uid_,
                                 [](const auto& m, store::Uid uid) { return m.first < uid; });
      next_meta_ = static_cast<std::size_t>(it - metas_.begin());
    }
    // Absent (expunged meanwhile) or no meta: the caller reads the header,
    // which reports a message that went away.
    if (next_meta_ >= metas_.size() || metas_[next_meta_].first != uid_) return nullptr;
    const std::string& blob = metas_[next_meta_++].second.structure;
    if (blob.empty()) return nullptr;
    auto parsed = mime::deserialize(blob);
    if (!parsed) {
      core::log_warn("search_bad_meta").kv("mailbox", mailbox_).kv("uid", uid_);
      return nullptr;
    }
    structure_ = std::move(*parsed);  // structure() can use it too
    return &structure_->envelope;
  }

  StoreResult<std::string_view> range(std::uint64_t begin, std::uint64_t end) override {
    if (auto ok = open(); !ok) return tl::unexpected(ok.error());
    end = std::min(end, file_.size);
    if (begin >= end) return std::string_view();
    if (small_) {
      if (auto ok = load(file_.size); !ok) return fail(ok);
      end = std::min<std::uint64_t>(end, data_.size());  // the file may have been short
      if (begin >= end) return std::string_view();
      return std::string_view(data_).substr(begin, end - begin);
    }
    if (auto ok = read_at(range_, begin, end - begin); !ok) return fail(ok);
    return std::string_view(range_);
  }

 private:
  static tl::unexpected<StoreError> fail(const StoreResult<void>& result) {
    return tl::unexpected(result.error());
  }

  StoreResult<void> open() {
    if (opened_) return {};
    auto file = account_.open_message(mailbox_, uid_);
    if (!file) return tl::unexpected(file.error());
    file_ = std::move(*file);
    opened_ = true;
    small_ = file_.size <= kSmallFileBytes;
    // Views into data_ stay valid while load() appends: it never outgrows this.
    if (small_) data_.reserve(static_cast<std::size_t>(file_.size));
    return {};
  }

  // Small files: extends data_ to the first `bytes` bytes of the file.
  StoreResult<void> load(std::uint64_t bytes) {
    bytes = std::min(bytes, file_.size);
    if (data_.size() >= bytes || loaded_all_) return {};
    const std::size_t had = data_.size();
    auto ok = read_append(data_, had, bytes - had);
    if (ok && data_.size() < bytes) loaded_all_ = true;  // the file is shorter than it was
    return ok;
  }

  StoreResult<const mime::MessagePart*> parse_small() {
    if (auto ok = load(file_.size); !ok) return fail(ok);
    structure_ = mime::parse_message(data_);
    return &*structure_;
  }

  StoreResult<void> read_at(std::string& out, std::uint64_t offset, std::uint64_t length) {
    out.clear();
    return read_append(out, offset, length);
  }

  // Appends up to `length` bytes read at `offset` to `out` (fewer at the end
  // of the file).
  StoreResult<void> read_append(std::string& out, std::uint64_t offset, std::uint64_t length) {
    const std::size_t had = out.size();
    out.resize(had + static_cast<std::size_t>(length));
    std::size_t done = 0;
    while (had + done < out.size()) {
      const ssize_t n = ::pread(file_.fd.get(), out.data() + had + done, out.size() - had - done,
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        core::log_warn("search_read_failed")
            .kv("mailbox", mailbox_)
            .kv("uid", uid_)
            .kv("errno", err);
        out.resize(had);
        return tl::unexpected(StoreError::Io);
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    out.resize(had + done);
    return {};
  }

  store::AccountStore& account_;
  store::MailboxId mailbox_;
  store::Uid uid_ = 0;
  bool body_wanted_ = false;
  store::MessageFile file_;
  bool opened_ = false;
  bool small_ = false;       // data_ holds the file's first bytes, growing to all of it
  bool loaded_all_ = false;  // small_: a read stopped short of file_.size
  std::string data_;         // buffers keep their capacity from message to message
  std::string head_;
  std::string range_;
  std::optional<std::string_view> header_;
  std::optional<mime::MessagePart> structure_;
  bool metas_loaded_ = false;
  std::vector<std::pair<store::Uid, store::MessageMeta>> metas_;  // envelope(): the mailbox's
  std::size_t next_meta_ = 0;                                     // where the next uid likely is
};

}  // namespace

std::unique_ptr<ContentSource> store_content_source(store::AccountStore& account,
                                                    store::MailboxId mailbox) {
  return std::make_unique<StoreContentSource>(account, mailbox);
}

}  // namespace postern::node::imap
