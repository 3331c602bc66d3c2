// The load generator's "stub" mode: an instant-reply IMAP and POP3 server.
// Greeting, OK to every LOGIN / USER / PASS, BYE + OK to LOGOUT and +OK to
// QUIT followed by a close, like a real server. The login modes run against
// it show the generator's own ceiling (issue 5: the generator must not be
// the bottleneck of scripts/bench proxy).
#pragma once

#include <netinet/in.h>

#include <optional>

namespace postern::bench {

// Serves until killed, with `threads` epoll loops sharing the listeners
// (SO_REUSEPORT). Prints one JSON line once listening.
int run_stub(std::optional<sockaddr_in> imap, std::optional<sockaddr_in> pop3, int threads);

}  // namespace postern::bench
