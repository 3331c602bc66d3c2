// Writing mail (API.md): POST /api/send (through the node's queue, a copy in Sent) and POST
// /api/drafts (into Drafts).
#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>
#include <string_view>

#include "backend/delivery/message_spool.hpp"
#include "backend/queue/queue.hpp"
#include "backend/store/store.hpp"
#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"
#include "backend/webmail/form_data.hpp"
#include "backend/webmail/message_composer.hpp"
#include "backend/webmail/message_reader.hpp"
#include "backend/webmail/recipient_routes.hpp"
#include "core/log.hpp"

namespace postern::node::webmail {

namespace {

// The form of /api/send and /api/drafts: its text fields (first value wins)
// and uploaded files.
struct Form {
  std::map<std::string, std::string> fields;
  std::vector<OutgoingAttachment> attachments;
  std::string field(const std::string& name) const {
    auto it = fields.find(name);
    return it == fields.end() ? std::string() : it->second;
  }
};

// The form in `body` (on a worker). Text fields are copied out (they are
// small); a file's bytes once, into its attachment.
tl::expected<Form, std::string> parse_form(std::string_view type, std::string_view body) {
  auto parts = parse_form_data_views(type, body);
  if (!parts) return tl::unexpected("Malformed form: " + parts.error());
  Form form;
  for (auto& p : *parts) {
    if (p.name == "attachment" && p.filename) {
      if (p.filename->empty() && p.data.empty()) continue;  // an empty file input
      form.attachments.push_back(
          {std::move(*p.filename), std::move(p.content_type), std::string(p.data)});
    } else if (!p.filename) {
      form.fields.emplace(std::move(p.name), std::string(p.data));
    }
  }
  return form;
}

std::string domain_of(const std::string& address) {
  const auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}

// The message as the form describes it; an error (for a 400) when an address
// list does not parse.
tl::expected<Composition, std::string> composition(const WebSession& session, Form& form,
                                                   bool draft) {
  Composition c;
  c.from = {session.display_name, session.user};
  for (auto [name, slot] :
       {std::pair{"to", &c.to}, std::pair{"cc", &c.cc}, std::pair{"bcc", &c.bcc}}) {
    auto list = parse_typed_addresses(form.field(name));
    if (!list) return tl::unexpected(fmt::format("{}: {}", name, list.error()));
    *slot = std::move(*list);
  }
  c.subject = form.field("subject");
  c.body = form.field("body");
  c.in_reply_to = form.field("in_reply_to");
  c.references = form.field("references");
  c.attachments = std::move(form.attachments);
  c.domain = domain_of(session.user);
  c.draft = draft;
  return c;
}

// Parts of an original message to attach (forward): on a worker.
store::StoreResult<std::vector<OutgoingAttachment>> original_parts(
    store::Store& store, const std::string& user, const std::string& folder, store::Uid uid,
    const std::vector<std::string>& sections) {
  auto opened = open_mailbox(store, user, folder);
  if (!opened) return tl::unexpected(opened.error());
  auto loaded = load_message_view(*opened->account, opened->mailbox.id, uid);
  if (!loaded) return tl::unexpected(loaded.error());
  std::vector<OutgoingAttachment> out;
  for (const auto& section : sections) {
    const mime::MessagePart* part = mime::find_section(loaded->root, section);
    if (part == nullptr || part->is_multipart())
      return store::fail(store::StoreError::NoSuchMessage);
    OutgoingAttachment a;
    a.content_type = part->type + "/" + part->subtype;
    a.filename = "part-" + section;
    for (const auto& info : loaded->view.attachments)
      if (info.part == section) a.filename = info.filename;
    a.data = decode_part_body(loaded->bytes, *part);
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    std::erase_if(item, [](char c) { return c == ' ' || c == '\t'; });
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

// Adds the bytes to `mailbox` of `account` with `flags`: on a worker.
store::StoreResult<store::AppendResult> append_copy(store::Store& store,
                                                    store::AccountStore& account,
                                                    store::MailboxId mailbox,
                                                    const std::string& message,
                                                    store::FlagBits flags) {
  auto spool = delivery::MessageSpool::create(store.root() + "/tmp");
  if (!spool) return store::fail(store::StoreError::Io);
  if (!spool->write(message)) return store::fail(store::StoreError::Io);
  auto ready = spool->finish(delivery::MessageSpool::Durability::ByStore);
  if (!ready) return store::fail(store::StoreError::Io);
  ready->flags = flags;
  return account.append(mailbox, *ready);
}

struct Sent {
  tl::expected<std::string, std::string> queue_id = tl::unexpected(std::string());
  bool copied = false;
};

// Queue, then Sent, then \Answered on the original: on a worker.
Sent send_message(store::Store& store, queue::Queue& queue, const std::string& user,
                  const std::string& message, queue::Envelope envelope,
                  const std::string& reply_folder, store::Uid reply_uid) {
  Sent out;
  auto incoming = queue.receive();
  if (!incoming) {
    out.queue_id = tl::unexpected(incoming.error());
    return out;
  }
  if (auto w = (*incoming)->write(message); !w) {
    out.queue_id = tl::unexpected(w.error());
    return out;
  }
  out.queue_id = queue.accept(std::move(*incoming), std::move(envelope));
  if (!out.queue_id) return out;
  // The message is on its way; what follows is the user's bookkeeping.
  auto account = store.account(user);
  if (!account) return out;
  if (auto sent = find_special(**account, "\\Sent", "Sent")) {
    out.copied = append_copy(store, **account, sent->id, message, store::kFlagSeen).has_value();
  }
  if (reply_uid != 0) {
    if (auto original = open_mailbox(store, user, reply_folder)) {
      (void)original->account->store_flags(original->mailbox.id, {{reply_uid, reply_uid}},
                                           store::FlagMode::Add, store::kFlagAnswered, {});
    }
  }
  return out;
}

void send_composed(CallPtr call, std::shared_ptr<const Composed> composed, std::string reply_folder,
                   store::Uid reply_uid) {
  queue::Queue* queue = call->ctx.node.queue;
  if (queue == nullptr) return call->error(503, "The mail queue is not running");
  // `composed` (the whole encoded message) is shared, never copied, from
  // here to the queue.
  route_recipients(
      call->ctx.node, composed->recipients, call->loop(),
      [call, composed, reply_folder, reply_uid, queue](RoutedRecipients routed) mutable {
        if (!call->alive()) return;
        if (routed.status == RoutedRecipients::Status::Unknown) {
          return call->error(400, fmt::format("Unknown recipient: {}", routed.address));
        }
        if (routed.status == RoutedRecipients::Status::TempFail) {
          core::log_warn("webmail_send_route")
              .kv("user", call->user())
              .kv("to", routed.address)
              .kv("detail", routed.detail);
          return call->error(
              503, fmt::format("Cannot route to {} now; try again later", routed.address));
        }
        auto envelope = std::make_shared<queue::Envelope>();
        envelope->sender = call->user();
        envelope->recipients = std::move(routed.recipients);
        envelope->client_helo = "webmail";
        envelope->client_address = call->request.client;
        envelope->auth_user = call->user();
        const std::size_t count = envelope->recipients.size();
        call->run(
            [store = &call->ctx.node.store, queue, user = call->user(), composed, envelope,
             reply_folder, reply_uid] {
              return send_message(*store, *queue, user, composed->message, *envelope, reply_folder,
                                  reply_uid);
            },
            [message_id = composed->message_id, count, size = composed->message.size()](ApiCall& c,
                                                                                        Sent sent) {
              if (!sent.queue_id) {
                core::log_warn("webmail_send_failed")
                    .kv("user", c.user())
                    .kv("error", sent.queue_id.error());
                return c.error(503, "The message could not be queued; try again later");
              }
              core::log_info("webmail_sent")
                  .kv("user", c.user())
                  .kv("id", *sent.queue_id)
                  .kv("rcpts", count)
                  .kv("size", size)
                  .kv("sent_copy", sent.copied);
              c.json(200, {{"queue_id", *sent.queue_id}, {"message_id", message_id}});
            });
      });
}

// What the worker made of a compose form: the message, or why not.
struct Prepared {
  int status = 0;  // 0: composed; else the error's status
  std::string error;
  std::optional<store::StoreError> store_failure;  // fetching forwarded parts
  std::shared_ptr<const Composed> composed;
  Form form;  // its text fields (the attachments are in the message)
};

// BLOCKING (a worker): parses the upload, fetches forwarded parts, composes.
// The upload is freed as soon as its files are copied out, so at most the
// upload and its attachments, then the attachments and the encoded message,
// are held at once.
Prepared prepare(store::Store& store, std::string_view type, std::string& body,
                 const WebSession& session, bool draft, std::uint64_t max_upload) {
  Prepared out;
  auto fail = [&out](int status, std::string message) {
    out.status = status;
    out.error = std::move(message);
    return std::move(out);
  };
  auto form = parse_form(type, body);
  std::string().swap(body);
  if (!form) return fail(400, form.error());
  auto c = composition(session, *form, draft);
  if (!c) return fail(400, c.error());
  const auto parts = split_list(form->field("forward_parts"));
  if (!parts.empty()) {
    const auto uid = parse_uid(form->field("forward_uid"));
    const std::string folder = form->field("forward_folder");
    if (!uid || folder.empty()) return fail(400, "forward_folder and forward_uid needed");
    auto original = original_parts(store, session.user, folder, *uid, parts);
    if (!original) {
      out.store_failure = original.error();
      return out;
    }
    for (auto& att : *original) c->attachments.push_back(std::move(att));
  }
  std::uint64_t total = 0;
  for (const auto& a : c->attachments) total += a.data.size();
  if (total > max_upload) return fail(413, "The attachments are larger than the upload limit");
  auto composed = compose_message(*c);
  if (!composed) return fail(400, composed.error());
  out.composed = std::make_shared<const Composed>(std::move(*composed));
  out.form = std::move(*form);
  return out;
}

// Parses and composes on a worker (forwarded parts fetched there too), then
// hands the message over on the loop.
void compose_and(CallPtr call, bool draft,
                 std::function<void(CallPtr, std::shared_ptr<const Composed>, const Form&)> then) {
  const std::string* type = call->request.head.headers.get("Content-Type");
  if (type == nullptr || !type->starts_with("multipart/form-data")) {
    return call->error(415, "Send the message as multipart/form-data");
  }
  // The upload moves to the job: no copy, and freed there.
  auto body = std::make_shared<std::string>(std::move(call->request.body));
  call->request.body.clear();
  call->run(
      [store = &call->ctx.node.store, type = *type, body, session = call->session, draft,
       limit = call->ctx.config.max_upload_size] {
        return prepare(*store, type, *body, session, draft, limit);
      },
      [then](ApiCall& a, Prepared p) {
        if (p.store_failure) return a.store_error(*p.store_failure);
        if (p.status != 0) return a.error(p.status, p.error);
        then(a.shared_from_this(), std::move(p.composed), p.form);
      });
}

struct SavedDraft {
  store::StoreResult<store::AppendResult> appended = store::fail(store::StoreError::Io);
  std::string folder;
};

SavedDraft save_draft(store::Store& store, const std::string& user, const std::string& message,
                      store::Uid replaces) {
  SavedDraft out;
  auto account = store.account(user);
  if (!account) {
    out.appended = tl::unexpected(account.error());
    return out;
  }
  auto drafts = find_special(**account, "\\Drafts", "Drafts");
  if (!drafts) {
    out.appended = tl::unexpected(drafts.error());
    return out;
  }
  out.folder = drafts->name;
  out.appended =
      append_copy(store, **account, drafts->id, message, store::kFlagDraft | store::kFlagSeen);
  if (out.appended && replaces != 0) {
    const store::UidSet old{{replaces, replaces}};
    if ((*account)->store_flags(drafts->id, old, store::FlagMode::Add, store::kFlagDeleted, {}))
      (void)(*account)->expunge(drafts->id, old);
  }
  return out;
}

}  // namespace

void api_send(CallPtr call) {
  compose_and(
      call, false, [](CallPtr c, std::shared_ptr<const Composed> composed, const Form& form) {
        const auto reply_uid = parse_uid(form.field("reply_uid")).value_or(0);
        send_composed(std::move(c), std::move(composed), form.field("reply_folder"), reply_uid);
      });
}

void api_draft(CallPtr call) {
  compose_and(call, true,
              [](CallPtr c, std::shared_ptr<const Composed> composed, const Form& form) {
                const auto replaces = parse_uid(form.field("draft_uid")).value_or(0);
                c->run([store = &c->ctx.node.store, user = c->user(), composed,
                        replaces] { return save_draft(*store, user, composed->message, replaces); },
                       [](ApiCall& a, SavedDraft saved) {
                         if (!saved.appended) return a.store_error(saved.appended.error());
                         a.json(200, {{"folder", saved.folder}, {"uid", saved.appended->uid}});
                       });
              });
}

}  // namespace postern::node::webmail
