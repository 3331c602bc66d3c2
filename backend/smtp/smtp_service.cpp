#include "backend/smtp/smtp_service.hpp"

#include <fmt/format.h>

namespace postern::node::smtp {

SmtpService::SmtpService(NodeContext& node) : ctx_(node, *node.queue) {}

SmtpService::~SmtpService() {
  // close_all() ran on every loop that is still there; a resolver left here
  // belongs to a loop that is gone (see SessionRegistry).
  for (auto& [loop, resolver] : resolvers_) (void)resolver.release();
}

core::DnsResolver& SmtpService::resolver(core::EventLoop& loop) {
  std::lock_guard guard(mutex_);
  auto& r = resolvers_[&loop];
  if (!r) r = std::make_unique<core::DnsResolver>(loop, ctx_.node.config.dns);
  return *r;
}

void SmtpService::accept(core::EventLoop& loop, core::Accepted connection) {
  auto session = std::make_shared<SmtpSession>(ctx_, loop, resolver(loop), std::move(connection),
                                               sessions_.ended(loop));
  sessions_.add(loop, session);
  session->start();
}

std::string SmtpService::refusal(core::FlowVerdict verdict) const {
  const std::string& host = ctx_.config.hostname;
  switch (verdict) {
    case core::FlowVerdict::TooManyFromIp:
      return fmt::format("421 4.7.0 {} Too many connections from your address\r\n", host);
    case core::FlowVerdict::TooFast:
    case core::FlowVerdict::TooFastFromIp:
      return fmt::format("421 4.7.0 {} Too many new connections; try again later\r\n", host);
    default:
      return fmt::format("421 4.7.0 {} Too many connections\r\n", host);
  }
}

void SmtpService::drain(core::EventLoop& loop) {
  sessions_.for_each(loop, [](SmtpSession& s) { s.drain(); });
}

void SmtpService::close_all(core::EventLoop& loop) {
  {
    auto doomed = sessions_.take(loop);
    for (auto& [raw, session] : doomed) session->close("shutdown");
  }  // destroyed here, on their loop, before the resolver they use
  std::unique_ptr<core::DnsResolver> resolver;
  {
    std::lock_guard guard(mutex_);
    auto it = resolvers_.find(&loop);
    if (it != resolvers_.end()) resolver = std::move(it->second);
  }
}

std::unique_ptr<NodeService> make_smtp_service(NodeContext& node) {
  return std::make_unique<SmtpService>(node);
}

}  // namespace postern::node::smtp
