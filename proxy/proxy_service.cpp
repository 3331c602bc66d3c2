#include "proxy/proxy_service.hpp"

#include <map>

#include "proxy/http_proxy.hpp"
#include "proxy/imap_proxy.hpp"
#include "proxy/pop3_proxy.hpp"
#include "proxy/smtp_proxy.hpp"

namespace postern::proxy {

namespace {

SessionFactory factory_for(const std::string& protocol) {
  static const std::map<std::string, SessionFactory> factories{
      {"imap", &make_imap_session},
      {"pop3", &make_pop3_session},
      {"smtp", &make_smtp_session},
      {"submission", &make_smtp_session},
  };
  return factories.at(protocol);
}

}  // namespace

std::unique_ptr<ProtocolService> make_protocol_service(ProxyContext& ctx,
                                                       const std::string& protocol) {
  if (protocol == "http") return std::make_unique<HttpProxyService>(ctx);
  return std::make_unique<ProxyService>(ctx, protocol);
}

ProxyService::ProxyService(ProxyContext& ctx, const std::string& protocol)
    : ctx_(ctx), protocol_(protocol), factory_(factory_for(protocol)) {}

void ProxyService::accept(core::EventLoop& loop, core::Accepted connection) {
  auto ended = sessions_.ended(loop);
  auto session = factory_(ctx_, loop, std::move(connection),
                          [this, ended = std::move(ended)](ProxySession* s) {
                            --open_;
                            ended(s);
                          });
  ++open_;
  sessions_.add(loop, session);
  session->start();
}

std::string ProxyService::refusal(core::FlowVerdict verdict) const {
  const bool per_ip =
      verdict == core::FlowVerdict::TooManyFromIp || verdict == core::FlowVerdict::TooFastFromIp;
  if (protocol_ == "imap") {
    return per_ip ? "* BYE [UNAVAILABLE] Too many connections from your address.\r\n"
                  : "* BYE [UNAVAILABLE] Too many connections; try again later.\r\n";
  }
  if (protocol_ == "pop3") {
    return per_ip ? "-ERR [SYS/TEMP] Too many connections from your address\r\n"
                  : "-ERR [SYS/TEMP] Too many connections; try again later\r\n";
  }
  return per_ip ? "421 4.7.0 Too many connections from your address\r\n"
                : "421 4.7.0 Too many connections; try again later\r\n";
}

void ProxyService::drain(core::EventLoop& loop) {
  sessions_.for_each(loop, [](ProxySession& s) { s.drain(); });
}

void ProxyService::close_all(core::EventLoop& loop) {
  auto doomed = sessions_.take(loop);
  for (auto& [raw, session] : doomed) session->close("shutdown");
}

}  // namespace postern::proxy
