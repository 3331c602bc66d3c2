#include "backend/smtp/smtp_service.hpp"

#include <fmt/format.h>

namespace postern::node::smtp {

SmtpService::SmtpService(NodeContext& node) : ctx_(node, *node.queue) {}

SmtpService::~SmtpService() {
  // The node calls close_all() on every loop first. What is still here
  // belongs to a loop that is gone: left to the process's exit (see
  // Pop3Service).
  for (auto& [loop, state] : by_loop_) {
    for (auto& [raw, session] : state.sessions)
      new std::shared_ptr<SmtpSession>(std::move(session));
    (void)state.resolver.release();
  }
}

SmtpService::PerLoop& SmtpService::per_loop(core::EventLoop& loop) {
  std::lock_guard guard(mutex_);
  return by_loop_[&loop];  // std::map: references stay valid
}

void SmtpService::accept(core::EventLoop& loop, core::Accepted connection) {
  PerLoop& state = per_loop(loop);
  if (!state.resolver)
    state.resolver = std::make_unique<core::DnsResolver>(loop, ctx_.node.config.dns);
  Sessions& sessions = state.sessions;
  auto session = std::make_shared<SmtpSession>(
      ctx_, loop, *state.resolver, std::move(connection),
      [&loop, &sessions](SmtpSession* s) { loop.post([&sessions, s] { sessions.erase(s); }); });
  sessions.emplace(session.get(), session);
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
  for (auto& [raw, session] : per_loop(loop).sessions) session->drain();
}

void SmtpService::close_all(core::EventLoop& loop) {
  PerLoop& state = per_loop(loop);
  Sessions doomed;
  doomed.swap(state.sessions);
  for (auto& [raw, session] : doomed) session->close("shutdown");
  doomed.clear();
  state.resolver.reset();  // on its loop, after the sessions that use it
}

std::unique_ptr<NodeService> make_smtp_service(NodeContext& node) {
  return std::make_unique<SmtpService>(node);
}

}  // namespace postern::node::smtp
