// POST /api/messages/flags, move, copy and delete (API.md, "Changing
// things"): a JSON body naming a folder and UIDs.
#include <fmt/format.h>

#include <set>

#include "backend/store/store.hpp"
#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"

namespace postern::node::webmail {

namespace {

// One request changes at most this many messages.
constexpr std::size_t kMaxUids = 10'000;

struct Selection {
  std::string folder;
  store::UidSet uids;
  std::size_t count = 0;
  nlohmann::json body;
};

// {"folder": "...", "uids": [1, 2], ...}; answers 400 and returns nullopt when
// it is not that.
std::optional<Selection> parse_selection(ApiCall& call) {
  auto body = nlohmann::json::parse(call.request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    call.error(400, "Expected a JSON object");
    return std::nullopt;
  }
  Selection s;
  if (!body.contains("folder") || !body["folder"].is_string() ||
      body["folder"].get_ref<const std::string&>().empty()) {
    call.error(400, "\"folder\": expected a folder name");
    return std::nullopt;
  }
  s.folder = body["folder"].get<std::string>();
  if (!body.contains("uids") || !body["uids"].is_array() || body["uids"].size() > kMaxUids) {
    call.error(400, fmt::format("\"uids\": expected an array of at most {} UIDs", kMaxUids));
    return std::nullopt;
  }
  for (const auto& u : body["uids"]) {
    if (!u.is_number_unsigned() || u.get<std::uint64_t>() == 0 ||
        u.get<std::uint64_t>() > 0xffffffffu) {
      call.error(400, "\"uids\": expected positive integers");
      return std::nullopt;
    }
    const auto uid = static_cast<store::Uid>(u.get<std::uint64_t>());
    s.uids.push_back({uid, uid});
  }
  s.count = s.uids.size();
  s.body = std::move(body);
  return s;
}

// A boolean field, absent allowed; answers 400 when it is something else.
bool optional_bool(ApiCall& call, const nlohmann::json& body, const char* key,
                   std::optional<bool>& out) {
  if (!body.contains(key)) return true;
  if (!body[key].is_boolean()) {
    call.error(400, fmt::format("\"{}\": expected true or false", key));
    return false;
  }
  out = body[key].get<bool>();
  return true;
}

store::StoreResult<std::size_t> change_flags(store::Store& store, const std::string& user,
                                             const Selection& s, std::optional<bool> seen,
                                             std::optional<bool> flagged) {
  auto opened = open_mailbox(store, user, s.folder);
  if (!opened) return tl::unexpected(opened.error());
  std::set<store::Uid> changed;
  for (auto [want, bit] :
       {std::pair{seen, store::kFlagSeen}, std::pair{flagged, store::kFlagFlagged}}) {
    if (!want || s.uids.empty()) continue;
    auto r = opened->account->store_flags(opened->mailbox.id, s.uids,
                                          *want ? store::FlagMode::Add : store::FlagMode::Remove,
                                          bit, {});
    if (!r) return tl::unexpected(r.error());
    for (const auto& m : r->messages.messages)
      if (r->modseq != 0 && m.modseq == r->modseq) changed.insert(m.uid);
  }
  return changed.size();
}

enum class Transfer { Move, Copy };

store::StoreResult<std::size_t> transfer(store::Store& store, const std::string& user,
                                         const Selection& s, const std::string& to, Transfer how) {
  auto opened = open_mailbox(store, user, s.folder);
  if (!opened) return tl::unexpected(opened.error());
  auto target = opened->account->find_mailbox(to);
  if (!target) return tl::unexpected(target.error());
  if (!target->selectable) return store::fail(store::StoreError::NoSuchMailbox);
  if (s.uids.empty()) return std::size_t{0};
  auto r = how == Transfer::Move ? opened->account->move(opened->mailbox.id, s.uids, target->id)
                                 : opened->account->copy(opened->mailbox.id, s.uids, target->id);
  if (!r) return tl::unexpected(r.error());
  return r->uids.size();
}

// Into Trash; in Trash (or with no Trash at all), \Deleted and expunged.
store::StoreResult<std::size_t> delete_messages(store::Store& store, const std::string& user,
                                                const Selection& s) {
  auto opened = open_mailbox(store, user, s.folder);
  if (!opened) return tl::unexpected(opened.error());
  auto& account = *opened->account;
  if (s.uids.empty()) return std::size_t{0};
  auto trash = find_special(account, "\\Trash", "Trash");
  if (trash && trash->id != opened->mailbox.id) {
    auto moved = account.move(opened->mailbox.id, s.uids, trash->id);
    if (!moved) return tl::unexpected(moved.error());
    return moved->uids.size();
  }
  if (!trash && trash.error() != store::StoreError::NoSuchMailbox)
    return tl::unexpected(trash.error());
  auto marked = account.store_flags(opened->mailbox.id, s.uids, store::FlagMode::Add,
                                    store::kFlagDeleted, {});
  if (!marked) return tl::unexpected(marked.error());
  // Only the UIDs asked for: other \Deleted messages of the folder stay.
  auto gone = account.expunge(opened->mailbox.id, s.uids);
  if (!gone) return tl::unexpected(gone.error());
  return gone->size();
}

void answer_count(CallPtr call, const char* key, store::StoreResult<std::size_t> r) {
  if (!r) return call->store_error(r.error());
  call->json(200, {{key, *r}});
}

std::optional<std::string> target_folder(ApiCall& call, const Selection& s) {
  if (!s.body.contains("to") || !s.body["to"].is_string() ||
      s.body["to"].get_ref<const std::string&>().empty()) {
    call.error(400, "\"to\": expected a folder name");
    return std::nullopt;
  }
  return s.body["to"].get<std::string>();
}

void run_transfer(CallPtr call, Transfer how) {
  auto s = parse_selection(*call);
  if (!s) return;
  auto to = target_folder(*call, *s);
  if (!to) return;
  call->run([store = &call->ctx.node.store, user = call->user(), s = *s, to = *to,
             how] { return transfer(*store, user, s, to, how); },
            [how](ApiCall& c, store::StoreResult<std::size_t> r) {
              answer_count(c.shared_from_this(), how == Transfer::Move ? "moved" : "copied",
                           std::move(r));
            });
}

}  // namespace

void api_flags(CallPtr call) {
  auto s = parse_selection(*call);
  if (!s) return;
  std::optional<bool> seen, flagged;
  if (!optional_bool(*call, s->body, "seen", seen) ||
      !optional_bool(*call, s->body, "flagged", flagged))
    return;
  call->run([store = &call->ctx.node.store, user = call->user(), s = *s, seen,
             flagged] { return change_flags(*store, user, s, seen, flagged); },
            [](ApiCall& c, store::StoreResult<std::size_t> r) {
              answer_count(c.shared_from_this(), "updated", std::move(r));
            });
}

void api_move(CallPtr call) {
  run_transfer(std::move(call), Transfer::Move);
}

void api_copy(CallPtr call) {
  run_transfer(std::move(call), Transfer::Copy);
}

void api_delete(CallPtr call) {
  auto s = parse_selection(*call);
  if (!s) return;
  call->run([store = &call->ctx.node.store, user = call->user(),
             s = *s] { return delete_messages(*store, user, s); },
            [](ApiCall& c, store::StoreResult<std::size_t> r) {
              answer_count(c.shared_from_this(), "deleted", std::move(r));
            });
}

}  // namespace postern::node::webmail
