#include "backend/webmail/webmail_service.hpp"

namespace postern::node::webmail {

void WebmailService::accept(core::EventLoop& loop, core::Accepted connection) {
  auto c =
      std::make_shared<HttpConnection>(ctx_, loop, std::move(connection), connections_.ended(loop));
  connections_.add(loop, c);
  c->start();
}

std::string WebmailService::refusal(core::FlowVerdict) const {
  // A refused browser gets a readable answer rather than a reset.
  static const std::string kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Retry-After: 5\r\nConnection: close\r\nContent-Length: 38\r\n\r\n"
      "Too many connections; try again later\n";
  return kBusy;
}

void WebmailService::drain(core::EventLoop& loop) {
  connections_.for_each(loop, [](HttpConnection& c) { c.drain(); });
}

void WebmailService::close_all(core::EventLoop& loop) {
  auto doomed = connections_.take(loop);
  for (auto& [raw, c] : doomed) c->close("shutdown");
}

std::unique_ptr<NodeService> make_webmail_service(NodeContext& node) {
  return std::make_unique<WebmailService>(node);
}

}  // namespace postern::node::webmail
