// GET /api/folders/{folder}/messages/{uid}/compose?mode=reply|reply_all|forward
// (API.md): the draft a reply or forward starts from.
#include "backend/store/store.hpp"
#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"
#include "backend/webmail/message_composer.hpp"
#include "backend/webmail/message_reader.hpp"

namespace postern::node::webmail {

namespace {

enum class Mode { Reply, ReplyAll, Forward };

// "Name <address>" as a user would type it; a name with specials quoted.
std::string typed(const MailAddress& a) {
  if (a.name.empty()) return a.address;
  const bool quote = a.name.find_first_of(",;<>@\"()[]:\\.") != std::string::npos;
  std::string name = a.name;
  if (quote) {
    std::string q = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    name = q + "\"";
  }
  return name + " <" + a.address + ">";
}

bool same_address(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The list as typed text, leaving out `self` and addresses already in `seen`.
std::string typed_list(const std::vector<MailAddress>& list, const std::string& self,
                       std::vector<std::string>& seen) {
  std::string out;
  for (const auto& a : list) {
    if (a.address.empty() || same_address(a.address, self)) continue;
    bool dup = false;
    for (const auto& s : seen) dup = dup || same_address(s, a.address);
    if (dup) continue;
    seen.push_back(a.address);
    if (!out.empty()) out += ", ";
    out += typed(a);
  }
  return out;
}

nlohmann::json prefill(const MessageView& v, Mode mode, const std::string& self) {
  nlohmann::json out = {{"to", ""},
                        {"cc", ""},
                        {"in_reply_to", ""},
                        {"references", ""},
                        {"attachments", nlohmann::json::array()}};
  if (mode == Mode::Forward) {
    out["subject"] = forward_subject(v.subject);
    std::string head = "\n\n---------- Forwarded message ----------\n";
    if (!v.from.empty()) head += "From: " + typed(v.from.front()) + "\n";
    if (!v.date.empty()) head += "Date: " + v.date + "\n";
    head += "Subject: " + v.subject + "\n";
    std::vector<std::string> none;
    if (!v.to.empty()) head += "To: " + typed_list(v.to, "", none) + "\n";
    out["body"] = head + "\n" + (v.text ? *v.text : "");
    for (const auto& a : v.attachments) {
      out["attachments"].push_back({{"part", a.part},
                                    {"filename", a.filename},
                                    {"content_type", a.content_type},
                                    {"size", a.size}});
    }
    return out;
  }
  std::vector<std::string> seen;
  const auto& to = v.reply_to.empty() ? v.from : v.reply_to;
  // A reply to one's own message goes to its recipients, as mail clients do.
  const bool own = !v.from.empty() && same_address(v.from.front().address, self);
  out["to"] = own && v.reply_to.empty() ? typed_list(v.to, self, seen) : typed_list(to, self, seen);
  if (mode == Mode::ReplyAll) {
    std::string cc = typed_list(v.to, self, seen);
    const std::string more = typed_list(v.cc, self, seen);
    if (!more.empty()) cc += (cc.empty() ? "" : ", ") + more;
    out["cc"] = cc;
  }
  out["subject"] = reply_subject(v.subject);
  out["body"] = "\n\n" + quote_body(v);
  out["in_reply_to"] = v.message_id;
  std::string references = v.references;
  if (!v.message_id.empty()) references += (references.empty() ? "" : " ") + v.message_id;
  out["references"] = references;
  return out;
}

}  // namespace

void api_compose(CallPtr call) {
  const auto uid = parse_uid(call->params[1]);
  if (!uid) return call->error(404, "No such message");
  const std::string m = call->query("mode").value_or("reply");
  Mode mode;
  if (m == "reply") {
    mode = Mode::Reply;
  } else if (m == "reply_all") {
    mode = Mode::ReplyAll;
  } else if (m == "forward") {
    mode = Mode::Forward;
  } else {
    return call->error(400, "mode: expected reply, reply_all or forward");
  }
  // The quoting (and html_to_text for an HTML-only message) is as heavy as
  // the message is big: it runs on the worker with the load, and the loop
  // only writes the answer.
  call->run(
      [store = &call->ctx.node.store, user = call->user(), folder = call->params[0], uid = *uid,
       mode]() -> store::StoreResult<Response> {
        auto opened = open_mailbox(*store, user, folder);
        if (!opened) return tl::unexpected(opened.error());
        auto loaded = load_message_view(*opened->account, opened->mailbox.id, uid);
        if (!loaded) return tl::unexpected(loaded.error());
        return json_response(200, prefill(loaded->view, mode, user));
      },
      [](ApiCall& c, store::StoreResult<Response> r) {
        if (!r) return c.store_error(r.error());
        c.reply(std::move(*r));
      });
}

}  // namespace postern::node::webmail
