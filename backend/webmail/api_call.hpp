// One API request on its way to a response: the request, the session it acts
// for, and the helpers every handler uses (JSON replies and errors, store
// errors as HTTP, blocking work on the node's worker pool).
//
// A handler gets a shared_ptr<ApiCall> and answers exactly once, now or from a
// completion. run() keeps the call alive while its job runs; the completion is
// skipped when the connection closed or moved on meanwhile, so nothing a
// handler captures in it may be a raw pointer to the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend/store/account_store.hpp"
#include "backend/store/store_error.hpp"
#include "backend/webmail/http_connection.hpp"
#include "backend/webmail/web_sessions.hpp"
#include "backend/webmail/webmail_context.hpp"

namespace postern::node::webmail {

class ApiCall : public std::enable_shared_from_this<ApiCall> {
 public:
  ApiCall(WebmailContext& context, const std::shared_ptr<HttpConnection>& connection,
          Request request);

  WebmailContext& ctx;
  Request request;
  WebSession session;               // the caller's, for routes that need one
  std::vector<std::string> params;  // the route's {} segments, decoded

  const std::string& user() const { return session.user; }
  core::EventLoop& loop() const { return loop_; }
  // A query parameter, decoded.
  std::optional<std::string> query(std::string_view name) const;
  // Whether the connection is still there for this request.
  bool alive() const;

  void reply(Response response);
  // The same, after `delay` (failed logins).
  void reply_later(Response response, std::chrono::milliseconds delay);
  // The connection, while it is open (nullptr after).
  std::shared_ptr<HttpConnection> connection() const { return connection_.lock(); }
  void json(int status, const nlohmann::json& body);
  void error(int status, std::string_view message);  // the code from the status
  void error(int status, std::string_view code, std::string_view message);
  // A store failure as the API's error: no such mailbox or message 404, not
  // allowed / over quota 403, bad argument 400, busy 503, else 500 (logged).
  void store_error(store::StoreError e);
  void file(Response head, int fd, std::uint64_t offset, std::uint64_t length);
  void stream(Response head, std::shared_ptr<BodyStream> body,
              std::optional<std::uint64_t> length = std::nullopt);

  // Runs `job()` on the worker pool, then `done(ApiCall&, result)` on the
  // connection's loop if the request is still waiting. A full pool answers
  // 503 at once. `job` must be copyable and must not touch the call.
  template <class Job, class Done>
  void run(Job job, Done done);

 private:
  std::weak_ptr<HttpConnection> connection_;
  std::uint64_t id_;
  core::EventLoop& loop_;
  bool answered_ = false;
};

template <class Job, class Done>
void ApiCall::run(Job job, Done done) {
  auto self = shared_from_this();
  const bool queued = ctx.node.workers.run(std::move(job), loop_,
                                           [self, done = std::move(done)](auto result) mutable {
                                             if (!self->alive()) return;
                                             done(*self, std::move(result));
                                           });
  if (!queued) error(503, "The server is busy; try again in a moment");
}

// A {uid} path segment: a positive decimal number.
std::optional<store::Uid> parse_uid(std::string_view text);
// The URL of one part of a message (for cid: references in body.html).
std::string part_url(std::string_view folder, store::Uid uid, std::string_view part);

// The account's mailbox `name`, on a worker: the store's account for `user`
// and the mailbox's id (NoSuchMailbox for a \Noselect one, too).
struct OpenedMailbox {
  std::shared_ptr<store::AccountStore> account;
  store::MailboxInfo mailbox;
};
store::StoreResult<OpenedMailbox> open_mailbox(store::Store& store, const std::string& user,
                                               const std::string& name);

// The mailbox with SPECIAL-USE `special_use` ("\Sent"), else the one called
// `fallback_name`.
store::StoreResult<store::MailboxInfo> find_special(store::AccountStore& account,
                                                    std::string_view special_use,
                                                    std::string_view fallback_name);

}  // namespace postern::node::webmail
