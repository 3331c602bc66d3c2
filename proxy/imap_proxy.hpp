// The IMAP proxy's dialogue (DESIGN.md section 5): before login it answers
// CAPABILITY, NOOP, ID, STARTTLS, LOGOUT, LOGIN and AUTHENTICATE PLAIN /
// LOGIN itself; then it hands the session to the user's node:
//
//   node: * OK ...                       (greeting)
//   P0 STARTTLS                          (when the hop uses STARTTLS)
//   P1 ID ("x-originating-ip" ... "x-proxy-ttl" "4" "x-session-id" ...)
//   P2 AUTHENTICATE PLAIN <base64>       (the login the client gave us)
//   node: P2 OK [CAPABILITY ...] ...  →  client: <its tag> OK [CAPABILITY ...] ...
//
// and the pump takes over. Commands the client pipelined after its login
// reach the node after it, in order.
#pragma once

#include <memory>

#include "core/listener.hpp"
#include "proxy/proxy_session.hpp"

namespace postern::proxy {

std::shared_ptr<ProxySession> make_imap_session(ProxyContext& ctx, core::EventLoop& loop,
                                                core::Accepted accepted, ProxySession::Ended ended);

}  // namespace postern::proxy
