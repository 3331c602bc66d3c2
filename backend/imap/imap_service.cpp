#include "backend/imap/imap_service.hpp"

#include "backend/imap/session.hpp"

namespace postern::node::imap {

namespace {

constexpr const char* kCommandNames[] = {
    "CAPABILITY",  "NOOP",   "LOGOUT",   "STARTTLS",       "LOGIN",  "AUTHENTICATE", "ID",
    "ENABLE",      "SELECT", "EXAMINE",  "CREATE",         "DELETE", "RENAME",       "SUBSCRIBE",
    "UNSUBSCRIBE", "LIST",   "LSUB",     "STATUS",         "APPEND", "NAMESPACE",    "IDLE",
    "CHECK",       "CLOSE",  "UNSELECT", "EXPUNGE",        "SEARCH", "FETCH",        "STORE",
    "COPY",        "MOVE",   "UID",      "UNAUTHENTICATE", "other"};

core::Counter& login_counter(core::MetricsRegistry& r, const char* result) {
  return r.counter("postern_logins_total", "Logins by service and result",
                   {{"service", "imap"}, {"result", result}});
}

}  // namespace

ImapMetrics::ImapMetrics(core::MetricsRegistry& r)
    : connections(r.counter("postern_connections_total", "Connections accepted by service",
                            {{"service", "imap"}})),
      sessions(r.gauge("postern_sessions", "Open sessions by service", {{"service", "imap"}})),
      login_ok(login_counter(r, "ok")),
      login_failed(login_counter(r, "failed")),
      login_wrong_node(login_counter(r, "wrong_node")),
      login_tempfail(login_counter(r, "tempfail")),
      store_operations(r.counter("postern_store_operations_total",
                                 "Store operations run for sessions", {{"service", "imap"}})),
      store_microseconds(r.counter("postern_store_latency_microseconds_total",
                                   "Time store operations took, queueing included",
                                   {{"service", "imap"}})),
      fetched_bytes(r.counter("postern_imap_fetched_bytes_total", "Message bytes sent by FETCH")),
      appended(r.counter("postern_imap_appended_total", "Messages added by APPEND")) {
  for (const char* name : kCommandNames) {
    commands[name] =
        &r.counter("postern_imap_commands_total", "IMAP commands by name", {{"command", name}});
  }
}

core::Counter& ImapMetrics::command(std::string_view name) const {
  auto it = commands.find(name);
  if (it == commands.end()) it = commands.find("other");
  return *it->second;
}

ImapService::ImapService(NodeContext& node) : node_(node), metrics_(node.metrics) {}

ImapService::~ImapService() = default;

void ImapService::accept(core::EventLoop& loop, core::Accepted connection) {
  auto session = std::make_shared<Session>(*this, loop, std::move(connection));
  {
    std::lock_guard lock(mutex_);
    sessions_[&loop][session.get()] = session;
  }
  ++count_;
  metrics_.connections.inc();
  metrics_.sessions.add(1);
  session->start();
}

std::string ImapService::refusal(core::FlowVerdict verdict) const {
  switch (verdict) {
    case core::FlowVerdict::TooManyFromIp:
    case core::FlowVerdict::TooFastFromIp:
      return "* BYE [UNAVAILABLE] Too many connections from your address\r\n";
    default:
      return "* BYE [UNAVAILABLE] Too many connections, try again later\r\n";
  }
}

void ImapService::drain(core::EventLoop& loop) {
  std::vector<std::shared_ptr<Session>> mine;
  {
    std::lock_guard lock(mutex_);
    for (auto& [ptr, s] : sessions_[&loop]) mine.push_back(s);
  }
  for (auto& s : mine) s->drain();
}

void ImapService::close_all(core::EventLoop& loop) {
  std::unordered_map<Session*, std::shared_ptr<Session>> mine;
  {
    std::lock_guard lock(mutex_);
    mine.swap(sessions_[&loop]);
  }
  for (auto& [ptr, s] : mine) s->close_now();
  count_ -= mine.size();
  metrics_.sessions.add(-static_cast<std::int64_t>(mine.size()));
}

void ImapService::forget(core::EventLoop& loop, Session* session) {
  std::shared_ptr<Session> last;  // destroyed after the lock is released
  {
    std::lock_guard lock(mutex_);
    auto& on_loop = sessions_[&loop];
    auto it = on_loop.find(session);
    if (it == on_loop.end()) return;
    last = std::move(it->second);
    on_loop.erase(it);
  }
  --count_;
  metrics_.sessions.add(-1);
}

std::unique_ptr<NodeService> make_imap_service(NodeContext& node) {
  return std::make_unique<ImapService>(node);
}

}  // namespace postern::node::imap
