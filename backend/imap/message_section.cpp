#include "backend/imap/message_section.hpp"

#include <errno.h>
#include <unistd.h>

#include <cstring>

#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

FileRange clamp(std::uint64_t begin, std::uint64_t end, std::uint64_t size) {
  if (end > size) end = size;
  if (begin > end) begin = end;
  return {begin, end - begin};
}

// Calls f(chunk) for each piece of the range, read with pread. False on error
// or a short file.
template <class F>
bool for_each_chunk(int fd, FileRange range, F&& f) {
  std::string buffer;
  buffer.resize(range.length < kReadChunk ? static_cast<std::size_t>(range.length) : kReadChunk);
  std::uint64_t done = 0;
  while (done < range.length) {
    const std::uint64_t want64 = range.length - done;
    const std::size_t want =
        want64 < buffer.size() ? static_cast<std::size_t>(want64) : buffer.size();
    const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(range.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    f(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace

std::optional<FileRange> section_range(const mime::MessagePart& root, std::uint64_t size,
                                       const Section& section) {
  const mime::MessagePart* part = mime::find_section(root, section.part);
  if (part == nullptr) return std::nullopt;
  switch (section.kind) {
    case Section::Kind::All:
      if (section.part.empty()) return FileRange{0, size};
      return clamp(part->body_offset, part->end_offset, size);
    case Section::Kind::Mime:
      return clamp(part->header_offset, part->body_offset, size);
    default:
      break;
  }
  // HEADER, TEXT and HEADER.FIELDS are about a message: the top one, or the
  // one a message/rfc822 part holds.
  const mime::MessagePart* message = part;
  if (!section.part.empty()) {
    if (!part->is_message_rfc822()) return std::nullopt;
    message = &part->children.front();
  }
  if (section.kind == Section::Kind::Text) {
    return clamp(message->body_offset, message->end_offset, size);
  }
  return clamp(message->header_offset, message->body_offset, size);
}

const mime::MessagePart* binary_part(const mime::MessagePart& root, std::string_view part) {
  return mime::find_section(root, part);
}

HeaderFieldFilter::HeaderFieldFilter(std::span<const std::string> fields, bool exclude)
    : fields_(fields), exclude_(exclude) {}

void HeaderFieldFilter::put(char c, std::string& out) {
  out += c;
  last_ = c;
}

// The field name is complete (or the line had none): keep the line or not.
void HeaderFieldFilter::decide(std::string& out) {
  std::string_view name = mime::trim_wsp(name_);
  bool listed = false;
  for (const std::string& f : fields_) {
    if (!overlong_ && mime::iequals(name, f)) {
      listed = true;
      break;
    }
  }
  include_ = listed != exclude_;
  if (include_) {
    out += name_;
    if (!name_.empty()) last_ = name_.back();
  }
  name_.clear();
  in_name_ = false;
  overlong_ = false;
}

void HeaderFieldFilter::feed(std::string_view in, std::string& out) {
  // Field names longer than this match nothing; only their first bytes are kept.
  constexpr std::size_t kMaxName = 1000;
  for (char c : in) {
    if (done_) return;
    if (in_name_) {
      if (c == ':' || c == '\n') {
        decide(out);
        if (include_) put(c, out);
        line_start_ = c == '\n';
      } else if (name_.size() >= kMaxName) {
        overlong_ = true;  // matches nothing; keeps the filter's memory bounded
        decide(out);
        if (include_) put(c, out);
      } else {
        name_ += c;
      }
      continue;
    }
    if (line_start_) {
      line_start_ = false;
      if (c == '\r' || c == '\n') {
        done_ = true;  // the blank line: finish() writes it
        return;
      }
      if (!mime::is_wsp(c)) {
        in_name_ = true;
        name_ += c;
        continue;
      }
      // A continuation line follows its field's fate.
    }
    if (include_) put(c, out);
    if (c == '\n') line_start_ = true;
  }
}

void HeaderFieldFilter::finish(std::string& out) {
  if (in_name_) decide(out);
  if (last_ != '\n') {
    out += "\r\n";
  }
  out += "\r\n";
  last_ = '\n';
  line_start_ = true;
  include_ = false;
  done_ = false;
}

bool read_chunks(int fd, FileRange range, const std::function<void(std::string_view)>& f) {
  return for_each_chunk(fd, range, f);
}

bool read_range(int fd, FileRange range, std::string& out) {
  // Straight into `out` (resize keeps its geometric growth; reserve would not).
  const std::size_t start = out.size();
  out.resize(start + static_cast<std::size_t>(range.length));
  std::uint64_t done = 0;
  while (done < range.length) {
    const ssize_t n = ::pread(fd, out.data() + start + done, range.length - done,
                              static_cast<off_t>(range.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  out.resize(start + static_cast<std::size_t>(done));
  return done == range.length;
}

std::string read_header_fields(int fd, FileRange range, const Section& section) {
  HeaderFieldFilter filter(section.fields, section.kind == Section::Kind::HeaderFieldsNot);
  std::string out;
  for_each_chunk(fd, range, [&](std::string_view chunk) { filter.feed(chunk, out); });
  filter.finish(out);
  return out;
}

std::string read_decoded(int fd, FileRange range, TransferEncoding encoding) {
  TransferDecoder decoder(encoding);
  std::string out;
  for_each_chunk(fd, range, [&](std::string_view chunk) { decoder.feed(chunk, out); });
  decoder.finish(out);
  return out;
}

std::uint64_t decoded_size(int fd, FileRange range, TransferEncoding encoding) {
  if (encoding == TransferEncoding::Identity) return range.length;
  TransferDecoder decoder(encoding);
  std::string scratch;
  std::uint64_t total = 0;
  for_each_chunk(fd, range, [&](std::string_view chunk) {
    decoder.feed(chunk, scratch);
    total += scratch.size();
    scratch.clear();
  });
  decoder.finish(scratch);
  return total + scratch.size();
}

bool range_has_nul(int fd, FileRange range) {
  bool found = false;
  for_each_chunk(fd, range, [&](std::string_view chunk) {
    found = found || std::memchr(chunk.data(), 0, chunk.size()) != nullptr;
  });
  return found;
}

}  // namespace postern::node::imap
