// GET /api/folders/{folder}/messages/{uid}: one message as the reader shows
// it (API.md). Opening a message marks it \Seen.
#include "backend/imap/imap_date.hpp"
#include "backend/store/store.hpp"
#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"
#include "backend/webmail/html_sanitizer.hpp"
#include "backend/webmail/message_list.hpp"
#include "backend/webmail/message_reader.hpp"
#include "backend/webmail/message_view.hpp"

namespace postern::node::webmail {

namespace {

struct OpenedMessage {
  store::MessageInfo info;
  MessageView view;
  std::size_t remote_images = 0;
};

store::StoreResult<OpenedMessage> open_and_mark_seen(store::Store& store, const std::string& user,
                                                     const std::string& folder, store::Uid uid) {
  auto opened = open_mailbox(store, user, folder);
  if (!opened) return tl::unexpected(opened.error());
  auto& account = *opened->account;
  const store::MailboxId id = opened->mailbox.id;
  auto loaded = load_message_view(account, id, uid);
  if (!loaded) return tl::unexpected(loaded.error());
  const store::UidSet one{{uid, uid}};
  auto update = account.store_flags(id, one, store::FlagMode::Add, store::kFlagSeen, {});
  if (!update) return tl::unexpected(update.error());
  OpenedMessage out;
  bool found = false;
  for (const auto& m : update->messages.messages) {
    if (m.uid == uid) {
      out.info = m;
      found = true;
    }
  }
  if (!found) return store::fail(store::StoreError::NoSuchMessage);
  out.view = std::move(loaded->view);
  if (out.view.html) out.remote_images = sanitize_html(*out.view.html).remote_images;
  return out;
}

}  // namespace

void api_message(CallPtr call) {
  const auto uid = parse_uid(call->params[1]);
  if (!uid) return call->error(404, "No such message");
  const std::string folder = call->params[0];
  call->run([store = &call->ctx.node.store, user = call->user(), folder,
             uid = *uid] { return open_and_mark_seen(*store, user, folder, uid); },
            [folder](ApiCall& c, store::StoreResult<OpenedMessage> r) {
              if (!r) return c.store_error(r.error());
              const MessageView& v = r->view;
              const auto date = imap::parse_rfc5322_date(v.date);
              auto attachments = nlohmann::json::array();
              for (const auto& a : v.attachments) {
                attachments.push_back({{"part", a.part},
                                       {"filename", a.filename},
                                       {"content_type", a.content_type},
                                       {"size", a.size},
                                       {"inline", a.is_inline}});
              }
              const auto flags = r->info.flags;
              c.json(200,
                     {{"uid", r->info.uid},
                      {"folder", folder},
                      {"subject", v.subject},
                      {"from", v.from.empty() ? address_json({}) : address_json(v.from.front())},
                      {"to", addresses_json(v.to)},
                      {"cc", addresses_json(v.cc)},
                      {"reply_to", addresses_json(v.reply_to)},
                      {"date", rfc3339(date ? *date : r->info.internal_date)},
                      {"message_id", v.message_id},
                      {"seen", (flags & store::kFlagSeen) != 0},
                      {"flagged", (flags & store::kFlagFlagged) != 0},
                      {"answered", (flags & store::kFlagAnswered) != 0},
                      {"text", v.text ? nlohmann::json(*v.text) : nlohmann::json(nullptr)},
                      {"has_html", v.html.has_value()},
                      {"remote_images", r->remote_images},
                      {"attachments", std::move(attachments)}});
            });
}

}  // namespace postern::node::webmail
