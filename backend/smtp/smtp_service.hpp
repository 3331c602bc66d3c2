// The node's SMTP service ("smtp" and "submission" listeners): starts an
// SmtpSession per accepted connection, keeps them per loop with one DNS
// resolver per loop (SPF), drains them, counts them.
#pragma once
#include <map>
#include <memory>
#include <mutex>

#include "backend/node/node_service.hpp"
#include "backend/smtp/smtp_context.hpp"
#include "backend/smtp/smtp_session.hpp"
#include "core/dns_resolver.hpp"
#include "core/session_registry.hpp"

namespace postern::node::smtp {

class SmtpService final : public NodeService {
 public:
  explicit SmtpService(NodeContext& node);
  SmtpService(const SmtpService&) = delete;
  SmtpService& operator=(const SmtpService&) = delete;
  ~SmtpService() override;

  void accept(core::EventLoop& loop, core::Accepted connection) override;
  std::string refusal(core::FlowVerdict verdict) const override;
  void drain(core::EventLoop& loop) override;
  void close_all(core::EventLoop& loop) override;
  std::size_t sessions() const override { return ctx_.open_sessions.load(); }

 private:
  // The loop's resolver (SPF), made on the loop at its first connection.
  core::DnsResolver& resolver(core::EventLoop& loop);

  SmtpContext ctx_;
  core::SessionRegistry<SmtpSession> sessions_;
  std::mutex mutex_;  // guards the map, not the resolvers (each used on its loop)
  std::map<core::EventLoop*, std::unique_ptr<core::DnsResolver>> resolvers_;
};

// For node_services.cpp ("smtp" and "submission").
std::unique_ptr<NodeService> make_smtp_service(NodeContext& node);

}  // namespace postern::node::smtp
