// The bodies of a message: GET .../body.html (sanitised, for the sandboxed
// iframe), .../raw (the stored bytes) and .../parts/{part} (one part,
// transfer-decoded while it is sent). API.md, "Folders and messages".
#include <fmt/format.h>

#include <map>

#include "backend/imap/transfer_decoder.hpp"
#include "backend/mime/encoded_words.hpp"
#include "backend/store/store.hpp"
#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"
#include "backend/webmail/html_sanitizer.hpp"
#include "backend/webmail/message_reader.hpp"

namespace postern::node::webmail {

namespace {

// Encoded bytes read per piece of a decoded part.
constexpr std::uint64_t kEncodedPiece = 48 * 1024;

struct OpenedFile {
  std::shared_ptr<store::MessageFile> file;
  mime::MessagePart part;  // the part (no children kept)
};

// A part's body, transfer-decoded piece by piece as the client reads.
class DecodingStream final : public BodyStream {
 public:
  DecodingStream(std::shared_ptr<store::MessageFile> file, std::uint64_t begin, std::uint64_t end,
                 imap::TransferEncoding encoding)
      : file_(std::move(file)), next_(begin), end_(end), decoder_(encoding) {}

  bool next(std::string& out, std::size_t max, bool& done) override {
    std::string encoded;
    while (out.size() < max && next_ < end_) {
      encoded.clear();
      const std::uint64_t n = std::min<std::uint64_t>(kEncodedPiece, end_ - next_);
      if (!read_range(file_->fd.get(), next_, n, encoded)) return false;
      if (encoded.empty()) {  // the file is shorter than its structure says
        next_ = end_;
        break;
      }
      next_ += encoded.size();
      decoder_.feed(encoded, out);
    }
    if (next_ >= end_) {
      decoder_.finish(out);
      done = true;
    }
    return true;
  }

 private:
  std::shared_ptr<store::MessageFile> file_;
  std::uint64_t next_;
  std::uint64_t end_;
  imap::TransferDecoder decoder_;
};

// The name a part gives itself (Content-Disposition filename, else the
// Content-Type name; RFC 2231 already undone by the parser, RFC 2047 here),
// without any path; else a made-up one.
std::string download_name(const mime::MessagePart& part, std::string_view section) {
  std::string raw;
  for (const auto& [name, value] : part.disposition_params)
    if (name == "filename") raw = value;
  if (raw.empty())
    if (const std::string* n = part.param("name")) raw = *n;
  std::string name = mime::decode_encoded_words(raw);
  const auto slash = name.find_last_of("/\\");
  if (slash != std::string::npos) name.erase(0, slash + 1);
  std::erase_if(name, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (name.empty() || name == "." || name == "..") {
    name = fmt::format("part-{}", section);
    if (part.type == "message" && part.subtype == "rfc822") name += ".eml";
  }
  return name;
}

store::StoreResult<OpenedFile> open_part(store::Store& store, const std::string& user,
                                         const std::string& folder, store::Uid uid,
                                         const std::string& section) {
  auto opened = open_mailbox(store, user, folder);
  if (!opened) return tl::unexpected(opened.error());
  auto& account = *opened->account;
  auto root = message_structure(account, opened->mailbox.id, uid);
  if (!root) return tl::unexpected(root.error());
  const mime::MessagePart* part = mime::find_section(*root, section);
  // A multipart is a container, not something to download.
  if (part == nullptr || part->is_multipart()) return store::fail(store::StoreError::NoSuchMessage);
  auto file = account.open_message(opened->mailbox.id, uid);
  if (!file) return tl::unexpected(file.error());
  OpenedFile out;
  out.file = std::make_shared<store::MessageFile>(std::move(*file));
  out.part = *part;
  out.part.children.clear();
  return out;
}

struct SanitizedBody {
  bool has_html = false;
  std::string html;
};

store::StoreResult<SanitizedBody> sanitized_body(store::Store& store, const std::string& user,
                                                 const std::string& folder, store::Uid uid,
                                                 bool images) {
  auto opened = open_mailbox(store, user, folder);
  if (!opened) return tl::unexpected(opened.error());
  auto loaded = load_message_view(*opened->account, opened->mailbox.id, uid);
  if (!loaded) return tl::unexpected(loaded.error());
  SanitizedBody out;
  if (!loaded->view.html) return out;
  std::map<std::string, std::string, std::less<>> by_cid;
  for (const auto& a : loaded->view.attachments)
    if (!a.content_id.empty()) by_cid.emplace(a.content_id, part_url(folder, uid, a.part));
  SanitizeOptions options;
  options.allow_remote_images = images;
  options.resolve_cid = [&by_cid](std::string_view cid) {
    auto it = by_cid.find(cid);
    return it == by_cid.end() ? std::string() : it->second;
  };
  out.has_html = true;
  out.html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>" +
             sanitize_html(*loaded->view.html, options).html + "</body></html>\n";
  return out;
}

}  // namespace

void api_body_html(CallPtr call) {
  const auto uid = parse_uid(call->params[1]);
  if (!uid) return call->error(404, "No such message");
  const bool images = call->query("images").value_or("") == "1";
  call->run([store = &call->ctx.node.store, user = call->user(), folder = call->params[0],
             uid = *uid, images] { return sanitized_body(*store, user, folder, uid, images); },
            [images](ApiCall& c, store::StoreResult<SanitizedBody> r) {
              if (!r) return c.store_error(r.error());
              if (!r->has_html) return c.error(404, "This message has no HTML body");
              Response response;
              response.headers.add("Content-Type", "text/html; charset=utf-8");
              response.headers.add("Content-Security-Policy", message_body_csp(images));
              response.body = std::move(r->html);
              c.reply(std::move(response));
            });
}

void api_raw(CallPtr call) {
  const auto uid = parse_uid(call->params[1]);
  if (!uid) return call->error(404, "No such message");
  call->run(
      [store = &call->ctx.node.store, user = call->user(), folder = call->params[0],
       uid = *uid]() -> store::StoreResult<std::shared_ptr<store::MessageFile>> {
        auto opened = open_mailbox(*store, user, folder);
        if (!opened) return tl::unexpected(opened.error());
        auto file = opened->account->open_message(opened->mailbox.id, uid);
        if (!file) return tl::unexpected(file.error());
        return std::make_shared<store::MessageFile>(std::move(*file));
      },
      [uid = *uid](ApiCall& c, store::StoreResult<std::shared_ptr<store::MessageFile>> r) {
        if (!r) return c.store_error(r.error());
        Response head;
        head.headers.add("Content-Type", "message/rfc822");
        head.headers.add("Content-Disposition",
                         fmt::format("attachment; filename=\"{}.eml\"", uid));
        const std::uint64_t size = (*r)->size;
        c.file(std::move(head), (*r)->fd.release(), 0, size);
      });
}

void api_part(CallPtr call) {
  const auto uid = parse_uid(call->params[1]);
  if (!uid) return call->error(404, "No such message");
  const std::string section = call->params[2];
  call->run(
      [store = &call->ctx.node.store, user = call->user(), folder = call->params[0], uid = *uid,
       section] { return open_part(*store, user, folder, uid, section); },
      [section](ApiCall& c, store::StoreResult<OpenedFile> r) {
        if (!r) {
          if (r.error() == store::StoreError::NoSuchMessage) return c.error(404, "No such part");
          return c.store_error(r.error());
        }
        const mime::MessagePart& p = r->part;
        const std::string* charset = p.param("charset");
        Response head;
        head.headers.add("Content-Type",
                         download_content_type(p.type + "/" + p.subtype, charset ? *charset : ""));
        head.headers.add("Content-Disposition",
                         content_disposition("attachment", download_name(p, section)));
        const std::uint64_t begin = p.body_offset;
        const std::uint64_t end = std::max(p.end_offset, p.body_offset);
        const auto encoding = imap::transfer_encoding(p.encoding);
        if (!encoding || *encoding == imap::TransferEncoding::Identity) {
          // Served as stored: the kernel sends it (sendfile on plain connections).
          return c.file(std::move(head), r->file->fd.release(), begin, end - begin);
        }
        c.stream(std::move(head), std::make_shared<DecodingStream>(r->file, begin, end, *encoding));
      });
}

}  // namespace postern::node::webmail
