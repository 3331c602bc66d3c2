#include "backend/webmail/api_call.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <charconv>

#include "backend/store/store.hpp"
#include "core/log.hpp"

namespace postern::node::webmail {

ApiCall::ApiCall(WebmailContext& context, const std::shared_ptr<HttpConnection>& connection,
                 Request req)
    : ctx(context),
      request(std::move(req)),
      connection_(connection),
      id_(connection->request_id()),
      loop_(connection->loop()) {}

std::optional<std::string> ApiCall::query(std::string_view name) const {
  return core::http::query_param(request.head.query, name);
}

bool ApiCall::alive() const {
  auto c = connection_.lock();
  return c && !c->closed() && c->request_id() == id_ && !answered_;
}

void ApiCall::reply(Response response) {
  auto c = connection_.lock();
  if (!c || answered_) return;
  answered_ = true;
  if (request.head.path.starts_with("/api/") && !response.headers.get("Cache-Control")) {
    response.headers.add("Cache-Control", "no-store");
  }
  if (!session.user.empty()) c->set_log_user(session.user);
  c->respond(id_, std::move(response));
}

void ApiCall::reply_later(Response response, std::chrono::milliseconds delay) {
  auto c = connection_.lock();
  if (!c || answered_) return;
  answered_ = true;
  response.headers.add("Cache-Control", "no-store");
  c->respond_later(id_, std::move(response), delay);
}

void ApiCall::json(int status, const nlohmann::json& body) {
  reply(json_response(status, body));
}

void ApiCall::error(int status, std::string_view message) {
  reply(error_response(status, error_code(status), message));
}

void ApiCall::error(int status, std::string_view code, std::string_view message) {
  reply(error_response(status, code, message));
}

void ApiCall::store_error(store::StoreError e) {
  using store::StoreError;
  switch (e) {
    case StoreError::NoSuchMailbox:
      return error(404, "No such folder");
    case StoreError::NoSuchMessage:
      return error(404, "No such message");
    case StoreError::AlreadyExists:
      return error(400, "It exists already");
    case StoreError::NotAllowed:
      return error(403, "That is not allowed on this folder");
    case StoreError::QuotaExceeded:
      return error(403, "forbidden", "Your mailbox is full (over quota)");
    case StoreError::BadArgument:
    case StoreError::Limit:
      return error(400, "The request is not valid for this mailbox");
    case StoreError::Busy:
    case StoreError::NoSpace:
      return error(503, "The mailbox is busy; try again in a moment");
    case StoreError::Io:
    case StoreError::Corrupt:
      break;
  }
  core::log_error("webmail_store")
      .kv("user", session.user)
      .kv("path", request.head.path)
      .kv("error", store::store_error_name(e));
  error(500, "The mailbox could not be read");
}

void ApiCall::file(Response head, int fd, std::uint64_t offset, std::uint64_t length) {
  auto c = connection_.lock();
  if (!c || answered_) {
    if (fd >= 0) ::close(fd);
    return;
  }
  answered_ = true;
  head.headers.add("Cache-Control", "no-store");
  c->set_log_user(session.user);
  c->respond_file(id_, std::move(head), fd, offset, length);
}

void ApiCall::stream(Response head, std::shared_ptr<BodyStream> body,
                     std::optional<std::uint64_t> length) {
  auto c = connection_.lock();
  if (!c || answered_) return;
  answered_ = true;
  head.headers.add("Cache-Control", "no-store");
  c->set_log_user(session.user);
  c->respond_stream(id_, std::move(head), std::move(body), length);
}

std::optional<store::Uid> parse_uid(std::string_view text) {
  store::Uid uid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), uid);
  if (ec != std::errc() || end != text.data() + text.size() || uid == 0) return std::nullopt;
  return uid;
}

std::string part_url(std::string_view folder, store::Uid uid, std::string_view part) {
  return fmt::format("/api/folders/{}/messages/{}/parts/{}", core::http::percent_encode(folder),
                     uid, part);
}

store::StoreResult<OpenedMailbox> open_mailbox(store::Store& store, const std::string& user,
                                               const std::string& name) {
  auto account = store.account(user);
  if (!account) return tl::unexpected(account.error());
  auto mailbox = (*account)->find_mailbox(name);
  if (!mailbox) return tl::unexpected(mailbox.error());
  if (!mailbox->selectable) return store::fail(store::StoreError::NoSuchMailbox);
  return OpenedMailbox{std::move(*account), std::move(*mailbox)};
}

store::StoreResult<store::MailboxInfo> find_special(store::AccountStore& account,
                                                    std::string_view special_use,
                                                    std::string_view fallback_name) {
  auto all = account.list_mailboxes();
  if (!all) return tl::unexpected(all.error());
  for (const auto& m : *all)
    if (m.selectable && m.special_use == special_use) return m;
  for (const auto& m : *all)
    if (m.selectable && m.name == fallback_name) return m;
  return store::fail(store::StoreError::NoSuchMailbox);
}

}  // namespace postern::node::webmail
