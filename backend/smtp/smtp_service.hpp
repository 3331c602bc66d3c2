// The node's SMTP service ("smtp" and "submission" listeners): starts an
// SmtpSession per accepted connection, keeps them per loop with one DNS
// resolver per loop (SPF), drains them, counts them.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "backend/node/node_service.hpp"
#include "backend/smtp/smtp_context.hpp"
#include "backend/smtp/smtp_session.hpp"
#include "core/dns_resolver.hpp"

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
  using Sessions = std::unordered_map<SmtpSession*, std::shared_ptr<SmtpSession>>;
  // What one loop owns; only that loop touches it, the mutex guards the map.
  struct PerLoop {
    Sessions sessions;
    std::unique_ptr<core::DnsResolver> resolver;  // created on the loop
  };
  PerLoop& per_loop(core::EventLoop& loop);

  SmtpContext ctx_;
  std::mutex mutex_;
  std::map<core::EventLoop*, PerLoop> by_loop_;
};

// For node_services.cpp ("smtp" and "submission").
std::unique_ptr<NodeService> make_smtp_service(NodeContext& node);

}  // namespace postern::node::smtp
