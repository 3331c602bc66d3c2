// The POP3 proxy's dialogue (DESIGN.md section 5): CAPA, STLS, USER/PASS,
// AUTH PLAIN / LOGIN and QUIT before login; then, with the user's node:
//
//   node: +OK ...                         (greeting)
//   STLS                                  (when the hop uses STARTTLS)
//   XCLIENT ADDR=<client> PORT=<port>     (the node believes it from proxies)
//   AUTH PLAIN <base64>
//   node: +OK Logged in ...  →  client
//
// and the pump takes over.
#pragma once

#include <memory>

#include "core/listener.hpp"
#include "proxy/proxy_session.hpp"

namespace postern::proxy {

std::shared_ptr<ProxySession> make_pop3_session(ProxyContext& ctx, core::EventLoop& loop,
                                                core::Accepted accepted, ProxySession::Ended ended);

}  // namespace postern::proxy
