// The node's POP3 service: starts a Pop3Session per accepted connection,
// keeps them per loop, drains them, counts them.
#pragma once

#include <memory>

#include "backend/node/node_service.hpp"
#include "backend/pop3/pop3_context.hpp"
#include "backend/pop3/pop3_session.hpp"
#include "core/session_registry.hpp"

namespace postern::node::pop3 {

class Pop3Service final : public NodeService {
 public:
  explicit Pop3Service(NodeContext& node) : ctx_(node) {}
  Pop3Service(const Pop3Service&) = delete;
  Pop3Service& operator=(const Pop3Service&) = delete;

  void accept(core::EventLoop& loop, core::Accepted connection) override;
  std::string refusal(core::FlowVerdict verdict) const override;
  void drain(core::EventLoop& loop) override;
  void close_all(core::EventLoop& loop) override;
  std::size_t sessions() const override { return ctx_.open_sessions.load(); }

 private:
  Pop3Context ctx_;
  core::SessionRegistry<Pop3Session> sessions_;
};

// For node_services.cpp.
std::unique_ptr<NodeService> make_pop3_service(NodeContext& node);

}  // namespace postern::node::pop3
