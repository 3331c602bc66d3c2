// The node's WebMail service (protocol "http"): an HttpConnection per
// accepted connection, kept per loop, drained and counted like the other
// services' sessions. The browser sessions (WebSessions) belong to the
// service, not to connections: a browser opens and closes connections freely.
#pragma once

#include <memory>

#include "backend/node/node_service.hpp"
#include "backend/webmail/http_connection.hpp"
#include "backend/webmail/webmail_context.hpp"
#include "core/session_registry.hpp"

namespace postern::node::webmail {

class WebmailService final : public NodeService {
 public:
  explicit WebmailService(NodeContext& node) : ctx_(node) {}
  WebmailService(const WebmailService&) = delete;
  WebmailService& operator=(const WebmailService&) = delete;

  void accept(core::EventLoop& loop, core::Accepted connection) override;
  std::string refusal(core::FlowVerdict verdict) const override;
  void drain(core::EventLoop& loop) override;
  void close_all(core::EventLoop& loop) override;
  std::size_t sessions() const override { return ctx_.open_connections.load(); }

 private:
  WebmailContext ctx_;
  core::SessionRegistry<HttpConnection> connections_;
};

// For node_services.cpp.
std::unique_ptr<NodeService> make_webmail_service(NodeContext& node);

}  // namespace postern::node::webmail
