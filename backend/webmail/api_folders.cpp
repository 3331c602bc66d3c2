// GET /api/folders and GET /api/folders/{folder}/messages (API.md, "Folders
// and messages").
#include <algorithm>
#include <array>

#include "backend/imap/search_text.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "backend/store/store.hpp"
#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"
#include "backend/webmail/message_list.hpp"
#include "backend/webmail/message_reader.hpp"

namespace postern::node::webmail {

namespace {

// SPECIAL-USE attribute -> the API's name, in the order the list shows them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kSpecial = {{
    {"\\Sent", "sent"},
    {"\\Drafts", "drafts"},
    {"\\Trash", "trash"},
    {"\\Junk", "junk"},
    {"\\Archive", "archive"},
}};

// A body search reads messages up to this size; a bigger one does not match
// (its text is not worth holding whole for a search).
constexpr std::uint64_t kMaxBodySearch = 32 * 1024 * 1024;

struct FolderRow {
  std::string name;
  std::string special;  // "" = null
  std::uint32_t total = 0;
  std::uint32_t unseen = 0;
  int rank = 0;  // INBOX 0, specials 1..5, the rest 6
};

store::StoreResult<std::vector<FolderRow>> read_folders(store::Store& store,
                                                        const std::string& user) {
  auto account = store.account(user);
  if (!account) return tl::unexpected(account.error());
  auto mailboxes = (*account)->list_mailboxes();
  if (!mailboxes) return tl::unexpected(mailboxes.error());
  std::vector<FolderRow> rows;
  for (const auto& m : *mailboxes) {
    if (!m.selectable) continue;
    auto status = (*account)->status(m.id);
    if (!status) {
      if (status.error() == store::StoreError::NoSuchMailbox) continue;  // deleted meanwhile
      return tl::unexpected(status.error());
    }
    FolderRow row{m.name, "", status->messages, status->unseen, 6};
    if (m.name == "INBOX") {
      row.special = "inbox";
      row.rank = 0;
    }
    for (std::size_t i = 0; i < kSpecial.size(); ++i) {
      if (m.special_use == kSpecial[i].first) {
        row.special = std::string(kSpecial[i].second);
        row.rank = static_cast<int>(i) + 1;
      }
    }
    rows.push_back(std::move(row));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const FolderRow& a, const FolderRow& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.name < b.name;
  });
  return rows;
}

struct ListResult {
  std::size_t total = 0;
  std::vector<ListEntry> page;
};

// The body text a search looks in: the plain text, else the HTML.
bool body_has(store::AccountStore& account, store::MailboxId mailbox, const ListEntry& e,
              const mime::MessagePart* root, const ListQuery& q) {
  if (e.info.size > kMaxBodySearch) return false;
  auto bytes = read_message(account, mailbox, e.info.uid, kMaxBodySearch);
  if (!bytes) return false;  // expunged meanwhile: not a match
  mime::MessagePart parsed;
  if (root == nullptr) {
    parsed = mime::parse_message(*bytes);
    root = &parsed;
  }
  const MessageView view = make_message_view(*bytes, *root);
  const std::string text = imap::folded(view.text ? *view.text : view.html.value_or(""));
  return body_matches(text, q);
}

// The entry of one message, from its cached structure or, without one, its
// header; nullopt when the message went away meanwhile.
std::optional<ListEntry> entry_of(store::AccountStore& account, store::MailboxId id,
                                  const store::MessageInfo& info, const std::string& structure,
                                  std::optional<mime::MessagePart>& root) {
  root.reset();
  if (!structure.empty()) root = mime::deserialize(structure);
  if (root) return make_list_entry(info, *root);
  auto header = header_structure(account, id, info.uid);
  if (!header) return std::nullopt;
  return make_list_entry(info, *header);
}

template <class T>
std::vector<T> page_of(std::vector<T>& all, const ListQuery& q) {
  const std::size_t first = std::min(all.size(), q.page * q.size);
  const std::size_t last = std::min(all.size(), first + q.size);
  return {std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(first)),
          std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(last))};
}

store::StoreResult<ListResult> read_list(store::Store& store, const std::string& user,
                                         const std::string& folder, const ListQuery& q) {
  auto opened = open_mailbox(store, user, folder);
  if (!opened) return tl::unexpected(opened.error());
  auto& account = *opened->account;
  const store::MailboxId id = opened->mailbox.id;
  auto list = account.list(id);
  if (!list) return tl::unexpected(list.error());
  ListResult out;
  std::optional<mime::MessagePart> root;
  // The common case (no search, by date or size): the rows alone decide the
  // page, and only its messages' structures are read and decoded.
  if (!q.header_search() && q.body.empty() &&
      (q.sort == SortKey::Date || q.sort == SortKey::Size)) {
    auto rows = std::move(list->messages);
    sort_rows(rows, q.sort, q.descending);
    out.total = rows.size();
    for (const auto& info : page_of(rows, q)) {
      auto meta = account.meta(id, info.uid);
      if (!meta) {
        if (meta.error() == store::StoreError::NoSuchMessage) continue;
        return tl::unexpected(meta.error());
      }
      if (auto e = entry_of(account, id, info, meta->structure, root))
        out.page.push_back(std::move(*e));
    }
    return out;
  }
  auto metas = account.list_meta(id);
  if (!metas) return tl::unexpected(metas.error());
  std::vector<ListEntry> entries;
  entries.reserve(list->messages.size());
  static const std::string kNone;
  std::size_t m = 0;  // both are in ascending uid order
  for (const auto& info : list->messages) {
    while (m < metas->size() && (*metas)[m].first < info.uid) ++m;
    const bool cached = m < metas->size() && (*metas)[m].first == info.uid;
    auto e = entry_of(account, id, info, cached ? (*metas)[m].second.structure : kNone, root);
    if (!e || !header_matches(*e, q)) continue;
    if (!q.body.empty() && !body_has(account, id, *e, root ? &*root : nullptr, q)) continue;
    entries.push_back(std::move(*e));
  }
  sort_entries(entries, q.sort, q.descending);
  out.total = entries.size();
  out.page = page_of(entries, q);
  return out;
}

}  // namespace

void api_folders(CallPtr call) {
  call->run(
      [store = &call->ctx.node.store, user = call->user()] { return read_folders(*store, user); },
      [](ApiCall& c, store::StoreResult<std::vector<FolderRow>> rows) {
        if (!rows) return c.store_error(rows.error());
        auto folders = nlohmann::json::array();
        for (const auto& r : *rows) {
          folders.push_back(
              {{"name", r.name},
               {"special", r.special.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.special)},
               {"total", r.total},
               {"unseen", r.unseen}});
        }
        c.json(200, {{"folders", std::move(folders)}});
      });
}

void api_message_list(CallPtr call) {
  auto query = parse_list_query(call->request.head.query);
  if (!query) return call->error(400, query.error());
  const std::string folder = call->params[0];
  call->run([store = &call->ctx.node.store, user = call->user(), folder,
             q = *query] { return read_list(*store, user, folder, q); },
            [folder, q = *query](ApiCall& c, store::StoreResult<ListResult> r) {
              if (!r) return c.store_error(r.error());
              auto messages = nlohmann::json::array();
              for (const auto& e : r->page) messages.push_back(entry_json(e));
              c.json(200, {{"folder", folder},
                           {"total", r->total},
                           {"page", q.page},
                           {"size", q.size},
                           {"messages", std::move(messages)}});
            });
}

}  // namespace postern::node::webmail
