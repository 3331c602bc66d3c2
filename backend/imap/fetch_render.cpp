#include "backend/imap/fetch_render.hpp"

#include <fmt/format.h>

#include <cstring>
#include <iterator>

#include "backend/imap/flags.hpp"
#include "backend/imap/imap_date.hpp"
#include "backend/imap/message_section.hpp"
#include "backend/imap/transfer_decoder.hpp"
#include "backend/mime/imap_format.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "core/log.hpp"

namespace postern::node::imap {

// ---- FetchOutput ----------------------------------------------------------

std::string& FetchOutput::text_buffer() {
  if (chunks_.empty() || chunks_.back().file) chunks_.emplace_back();
  return chunks_.back().text;
}

void FetchOutput::file(std::shared_ptr<const store::UniqueFd> fd, std::uint64_t offset,
                       std::uint64_t length) {
  if (length == 0) return;
  if (!chunks_.empty() && !chunks_.back().file) closed_text_bytes_ += chunks_.back().text.size();
  Chunk chunk;
  chunk.file = std::move(fd);
  chunk.offset = offset;
  chunk.length = length;
  chunks_.push_back(std::move(chunk));
  file_bytes_ += length;
}

std::vector<Chunk> FetchOutput::take() {
  closed_text_bytes_ = 0;
  file_bytes_ = 0;
  return std::exchange(chunks_, {});
}

std::size_t FetchOutput::text_bytes() const {
  if (chunks_.empty() || chunks_.back().file) return closed_text_bytes_;
  return closed_text_bytes_ + chunks_.back().text.size();
}

// ---- load_content -----------------------------------------------------------

namespace {

tl::expected<store::MessageFile, store::StoreError> open_file(store::AccountStore& account,
                                                              store::MailboxId mailbox,
                                                              store::Uid uid) {
  return account.open_message(mailbox, uid);
}

}  // namespace

tl::expected<MessageContent, store::StoreError> load_content(store::AccountStore& account,
                                                             store::MailboxId mailbox,
                                                             store::Uid uid,
                                                             const FetchRequest& request) {
  MessageContent content;
  const bool want_structure = request.needs_structure();
  const bool want_envelope = request.needs_envelope();
  std::optional<store::MessageFile> file;
  if (request.needs_file()) {
    auto opened = open_file(account, mailbox, uid);
    if (!opened) return tl::unexpected(opened.error());
    file = std::move(*opened);
  }
  if (want_structure || want_envelope) {
    auto meta = account.meta(mailbox, uid);
    if (!meta) return tl::unexpected(meta.error());
    if (!meta->structure.empty() && (want_structure || meta->envelope.empty())) {
      content.structure = mime::deserialize(meta->structure);
    }
    content.envelope = std::move(meta->envelope);
    if (content.envelope.empty() && content.structure) {
      content.envelope = mime::envelope_to_imap(content.structure->envelope);
    }
    if (!content.structure && (want_structure || content.envelope.empty())) {
      // No usable cache (stored before meta existed, or an older encoding):
      // parse once and keep the result, as delivery would have.
      if (!file) {
        auto opened = open_file(account, mailbox, uid);
        if (!opened) return tl::unexpected(opened.error());
        file = std::move(*opened);
      }
      mime::MessageParser parser;
      if (!read_chunks(file->fd.get(), {0, file->size},
                       [&](std::string_view chunk) { parser.feed(chunk); })) {
        return tl::unexpected(store::StoreError::Io);
      }
      content.structure = parser.finish();
      content.envelope = mime::envelope_to_imap(content.structure->envelope);
      meta->structure = mime::serialize(*content.structure);
      meta->envelope = content.envelope;
      if (auto stored = account.set_meta(mailbox, uid, *meta); !stored) {
        core::log_warn("imap_meta_cache")
            .kv("uid", uid)
            .kv("error", store::store_error_name(stored.error()));
      }
    }
    if (!want_structure) content.structure.reset();
  }
  if (file) {
    content.size = file->size;
    content.file = std::make_shared<const store::UniqueFd>(std::move(file->fd));
  }
  return content;
}

// ---- render_fetch -----------------------------------------------------------

namespace {

using Kind = FetchItem::Kind;

// fmt::format_int rather than format_to: no format string to parse on the path
// that 100,000-message FETCHes take.
void append_number(std::string& t, std::uint64_t n) {
  const fmt::format_int digits(n);
  t.append(digits.data(), digits.size());
}

struct Renderer {
  const MessageContent& content;
  const mime::MessagePart& root;
  FetchOutput& out;

  int fd() const { return content.file ? content.file->get() : -1; }

  std::string& text() { return out.text_buffer(); }

  // Applies <offset.length>: the data from `offset`, at most `length` bytes.
  static FileRange cut(FileRange range, const FetchItem& item) {
    if (!item.partial) return range;
    const auto [offset, length] = *item.partial;
    if (offset >= range.length) return {range.offset + range.length, 0};
    const std::uint64_t left = range.length - offset;
    return {range.offset + offset, length < left ? length : left};
  }

  void literal_header(std::uint64_t length, bool literal8) {
    fmt::format_to(std::back_inserter(text()), "{}{{{}}}\r\n", literal8 ? "~" : "", length);
  }

  void memory_data(std::string_view data, const FetchItem& item, bool literal8_if_nul) {
    FileRange r = cut({0, data.size()}, item);
    if (r.length == 0) {
      text() += "\"\"";
      return;
    }
    const std::string_view piece = data.substr(r.offset, r.length);
    const bool literal8 = literal8_if_nul && std::memchr(piece.data(), 0, piece.size()) != nullptr;
    literal_header(piece.size(), literal8);
    text().append(piece);
  }

  void file_data(FileRange range, const FetchItem* item, bool literal8_if_nul) {
    FileRange r = item ? cut(range, *item) : range;
    if (r.length == 0 || !content.file) {
      text() += "\"\"";
      return;
    }
    const bool literal8 = literal8_if_nul && range_has_nul(fd(), r);
    if (r.length <= kInlineBytes) {
      std::string& t = text();
      const std::size_t mark = t.size();
      literal_header(r.length, literal8);
      if (read_range(fd(), r, t)) return;
      t.resize(mark);  // unreadable here: let the session stream it (and fail) instead
    }
    literal_header(r.length, literal8);
    out.file(content.file, r.offset, r.length);
  }

  void body_section(const FetchItem& item) {
    const Section& s = item.section;
    if (s.part.empty() && s.kind == Section::Kind::All) {
      file_data({0, content.size}, &item, false);
      return;
    }
    const auto range = section_range(root, content.size, s);
    if (!range) {
      text() += "\"\"";
    } else if (s.kind == Section::Kind::HeaderFields || s.kind == Section::Kind::HeaderFieldsNot) {
      memory_data(content.file ? read_header_fields(fd(), *range, s) : std::string(), item, false);
    } else {
      file_data(*range, &item, false);
    }
  }

  // BINARY's source: the range and how to decode it; nullopt for a missing part.
  struct BinarySource {
    FileRange range;
    TransferEncoding encoding = TransferEncoding::Identity;
    bool known = true;
  };
  std::optional<BinarySource> binary_source(const Section& s) const {
    const mime::MessagePart* part = binary_part(root, s.part);
    if (part == nullptr) return std::nullopt;
    if (s.part.empty()) return BinarySource{{0, content.size}};
    Section body = s;
    body.kind = Section::Kind::All;
    const FileRange range = section_range(root, content.size, body).value_or(FileRange{});
    if (part->is_multipart() || part->is_message_rfc822()) return BinarySource{range};
    const auto encoding = transfer_encoding(part->encoding);
    if (!encoding) return BinarySource{range, TransferEncoding::Identity, false};
    return BinarySource{range, *encoding};
  }

  void binary(const FetchItem& item) {
    const auto source = binary_source(item.section);
    if (!source) {
      text() += "\"\"";
    } else if (source->encoding == TransferEncoding::Identity || !content.file) {
      file_data(source->range, &item, true);
    } else {
      memory_data(read_decoded(fd(), source->range, source->encoding), item, true);
    }
  }

  void binary_size(const FetchItem& item) {
    const auto source = binary_source(item.section);
    std::uint64_t size = 0;
    if (source && content.file) size = decoded_size(fd(), source->range, source->encoding);
    append_number(text(), size);
  }

  bool unknown_cte(const FetchRequest& request) const {
    for (const FetchItem& item : request.items) {
      if (item.kind != Kind::Binary && item.kind != Kind::BinarySize) continue;
      const auto source = binary_source(item.section);
      if (source && !source->known) return true;
    }
    return false;
  }

  void item(const FetchItem& item) {
    switch (item.kind) {
      case Kind::Envelope:
        text() += "ENVELOPE ";
        text() +=
            content.envelope.empty() ? mime::envelope_to_imap(root.envelope) : content.envelope;
        return;
      case Kind::Body:
      case Kind::BodyStructure:
        text() += item.name;
        text() += ' ';
        text() += mime::bodystructure_to_imap(root, item.kind == Kind::BodyStructure);
        return;
      default:
        break;
    }
    text() += item.name;
    text() += ' ';
    switch (item.kind) {
      case Kind::BodySection:
        body_section(item);
        break;
      case Kind::Rfc822:
        file_data({0, content.size}, nullptr, false);
        break;
      case Kind::Rfc822Header:
        file_data(section_range(root, content.size, {"", Section::Kind::Header, {}})
                      .value_or(FileRange{}),
                  nullptr, false);
        break;
      case Kind::Rfc822Text:
        file_data(
            section_range(root, content.size, {"", Section::Kind::Text, {}}).value_or(FileRange{}),
            nullptr, false);
        break;
      case Kind::Binary:
        binary(item);
        break;
      case Kind::BinarySize:
        binary_size(item);
        break;
      default:
        break;
    }
  }
};

// What FETCH of index fields writes.
bool index_item(std::string& t, const FetchItem& item, const FetchMessage& m) {
  const store::MessageInfo& info = *m.info;
  switch (item.kind) {
    case Kind::Uid:
      t += "UID ";
      append_number(t, info.uid);
      return true;
    case Kind::Flags:
      t += "FLAGS ";
      append_flags(t, info.flags, info.keywords, m.keyword_names, m.recent);
      return true;
    case Kind::InternalDate:
      t += "INTERNALDATE ";
      append_date_time(t, info.internal_date, info.zone_minutes);
      return true;
    case Kind::Rfc822Size:
      t += "RFC822.SIZE ";
      append_number(t, info.size);
      return true;
    case Kind::ModSeq:
      t += "MODSEQ (";
      append_number(t, info.modseq);
      t += ')';
      return true;
    default:
      return false;
  }
}

const MessageContent& empty_content() {
  static const MessageContent kEmpty;
  return kEmpty;
}

}  // namespace

tl::expected<void, FetchError> render_fetch(const FetchRequest& request,
                                            const FetchMessage& message,
                                            const MessageContent* content, FetchOutput& out) {
  const MessageContent& c = content ? *content : empty_content();
  // A structure is always loaded when needed; without one the message reads as
  // a header-less text body, so that nothing here can fail. Built only then:
  // the index-only path stays free of it.
  static const mime::MessagePart kNoStructure;
  std::optional<mime::MessagePart> fallback;
  const mime::MessagePart* root = &kNoStructure;
  if (c.structure) {
    root = &*c.structure;
  } else if (content) {
    fallback.emplace();
    fallback->end_offset = c.size;
    root = &*fallback;
  }
  Renderer renderer{c, *root, out};
  if (content && renderer.unknown_cte(request)) return tl::unexpected(FetchError::UnknownCte);

  std::string& head = out.text_buffer();
  head += "* ";
  append_number(head, message.seq);
  head += " FETCH (";
  bool first = true;
  bool flags = false;
  for (const FetchItem& item : request.items) {
    std::string& t = out.text_buffer();
    if (!first) t += ' ';
    first = false;
    flags = flags || item.kind == Kind::Flags;
    if (!index_item(t, item, message)) renderer.item(item);
  }
  std::string& t = out.text_buffer();
  if (message.flags_changed && !flags) {
    if (!first) t += ' ';
    t += "FLAGS ";
    append_flags(t, message.info->flags, message.info->keywords, message.keyword_names,
                 message.recent);
  }
  t += ")\r\n";
  return {};
}

}  // namespace postern::node::imap
