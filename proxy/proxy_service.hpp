// One listener protocol of the proxy (imap, pop3, smtp, submission): starts
// a session of that protocol for each accepted connection and keeps the
// sessions per loop for drain and shutdown.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/listener.hpp"
#include "core/session_registry.hpp"
#include "proxy/proxy_session.hpp"

namespace postern::proxy {

using SessionFactory = std::function<std::shared_ptr<ProxySession>(
    ProxyContext&, core::EventLoop&, core::Accepted, ProxySession::Ended)>;

class ProxyService final : public core::Service {
 public:
  // Throws std::out_of_range for a protocol the proxy does not serve.
  ProxyService(ProxyContext& ctx, const std::string& protocol);

  void accept(core::EventLoop& loop, core::Accepted connection) override;
  std::string refusal(core::FlowVerdict verdict) const override;

  // On `loop`: sessions before their hand-off say goodbye; pumped ones go on.
  void drain(core::EventLoop& loop);
  // On `loop`: closes every session now and forgets it.
  void close_all(core::EventLoop& loop);
  std::size_t sessions() const { return open_.load(); }

 private:
  ProxyContext& ctx_;
  std::string protocol_;
  SessionFactory factory_;
  core::SessionRegistry<ProxySession> sessions_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace postern::proxy
