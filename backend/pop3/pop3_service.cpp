#include "backend/pop3/pop3_service.hpp"

namespace postern::node::pop3 {

void Pop3Service::accept(core::EventLoop& loop, core::Accepted connection) {
  auto session =
      std::make_shared<Pop3Session>(ctx_, loop, std::move(connection), sessions_.ended(loop));
  sessions_.add(loop, session);
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
  sessions_.for_each(loop, [](Pop3Session& s) { s.drain(); });
}

void Pop3Service::close_all(core::EventLoop& loop) {
  auto doomed = sessions_.take(loop);
  for (auto& [raw, session] : doomed) session->close("shutdown");
  // Destroyed here, on their loop.
}

std::unique_ptr<NodeService> make_pop3_service(NodeContext& node) {
  return std::make_unique<Pop3Service>(node);
}

}  // namespace postern::node::pop3
