#include "backend/pop3/pop3_service.hpp"

namespace postern::node::pop3 {

Pop3Service::~Pop3Service() {
  // The node calls close_all() on every loop first. A session still here
  // belongs to a loop that is gone: freeing its connection would touch a
  // freed event base, so it is left to the process's exit.
  for (auto& [loop, sessions] : by_loop_) {
    for (auto& [raw, session] : sessions) new std::shared_ptr<Pop3Session>(std::move(session));
  }
}

Pop3Service::Sessions& Pop3Service::sessions_of(core::EventLoop& loop) {
  std::lock_guard guard(mutex_);
  return by_loop_[&loop];  // std::map: references stay valid
}

void Pop3Service::accept(core::EventLoop& loop, core::Accepted connection) {
  Sessions& sessions = sessions_of(loop);
  auto session = std::make_shared<Pop3Session>(ctx_, loop, std::move(connection),
                                               [&loop, &sessions](Pop3Session* s) {
                                                 // Called from the connection's on_closed: destroy
                                                 // on the next turn.
                                                 loop.post([&sessions, s] { sessions.erase(s); });
                                               });
  sessions.emplace(session.get(), session);
  session->start();
}

std::string Pop3Service::refusal(core::FlowVerdict verdict) const {
  switch (verdict) {
    case core::FlowVerdict::TooManyFromIp:
      return "-ERR [SYS/TEMP] Too many connections from your address\r\n";
    case core::FlowVerdict::TooFast:
    case core::FlowVerdict::TooFastFromIp:
      return "-ERR [SYS/TEMP] Too many new connections; try again later\r\n";
    default:
      return "-ERR [SYS/TEMP] Too many connections\r\n";
  }
}

void Pop3Service::drain(core::EventLoop& loop) {
  Sessions& sessions = sessions_of(loop);
  // drain() may close a session, whose removal is posted: iterating is safe.
  for (auto& [raw, session] : sessions) session->drain();
}

void Pop3Service::close_all(core::EventLoop& loop) {
  Sessions doomed;
  doomed.swap(sessions_of(loop));
  for (auto& [raw, session] : doomed) session->close("shutdown");
  // Destroyed here, on their loop; the removals they posted find nothing.
}

std::unique_ptr<NodeService> make_pop3_service(NodeContext& node) {
  return std::make_unique<Pop3Service>(node);
}

}  // namespace postern::node::pop3
