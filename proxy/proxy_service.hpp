// One listener protocol of the proxy (imap, pop3, smtp, submission; http is
// in proxy/http_proxy.hpp): starts a session of that protocol for each
// accepted connection and keeps the sessions per loop for drain and shutdown.
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

// What the Proxy needs of each listener protocol's service.
class ProtocolService : public core::Service {
 public:
  // On `loop`: sessions before their hand-off say goodbye; pumped ones go on.
  virtual void drain(core::EventLoop& loop) = 0;
  // On `loop`: closes every session now and forgets it.
  virtual void close_all(core::EventLoop& loop) = 0;
  virtual std::size_t sessions() const = 0;
};

// The service of `protocol` (one of proxy_protocols()).
std::unique_ptr<ProtocolService> make_protocol_service(ProxyContext& ctx,
                                                       const std::string& protocol);

class ProxyService final : public ProtocolService {
 public:
  // Throws std::out_of_range for a protocol the proxy does not serve.
  ProxyService(ProxyContext& ctx, const std::string& protocol);

  void accept(core::EventLoop& loop, core::Accepted connection) override;
  std::string refusal(core::FlowVerdict verdict) const override;

  void drain(core::EventLoop& loop) override;
  void close_all(core::EventLoop& loop) override;
  std::size_t sessions() const override { return open_.load(); }

 private:
  ProxyContext& ctx_;
  std::string protocol_;
  SessionFactory factory_;
  core::SessionRegistry<ProxySession> sessions_;
  std::atomic<std::size_t> open_{0};
};

}  // namespace postern::proxy
