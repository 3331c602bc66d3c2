// The load generator's "fetch" mode: one IMAP connection logs in, SELECTs
// a mailbox and runs `UID FETCH <uid> BODY[]` `iterations` times (after one
// untimed warm-up), reading the literal in 1 MiB recv() calls and discarding
// it. Prints one JSON line: bytes of the body, seconds, MB/s (10^6 bytes).
#pragma once

#include <netinet/in.h>

#include <string>

#include "test/bench/loadgen/net_util.hpp"

namespace postern::bench {

struct FetchOptions {
  sockaddr_in target{};
  Credential user;
  std::string mailbox = "INBOX";
  long uid = 1;
  int iterations = 5;
};

int run_fetch(const FetchOptions& options);

}  // namespace postern::bench
