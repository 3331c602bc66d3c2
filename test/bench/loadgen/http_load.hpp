// The load generator's "http" mode (scripts/bench webmail): C keep-alive
// connections, each sending one GET at a time (no pipelining, as browsers
// do) for S seconds, cycling through a list of paths, with fixed extra
// header lines (the session and routing cookies). Responses are read whole
// (Content-Length or chunked) and discarded. Prints one JSON line: requests
// answered 2xx, requests/s, bytes, errors by kind, latency percentiles.
//
// "http-stub" answers every request head with a fixed 200 response of a given
// size at once: the generator's own ceiling.
#pragma once

#include <netinet/in.h>

#include <string>
#include <vector>

namespace postern::bench {

struct HttpLoadOptions {
  sockaddr_in target{};
  std::string host = "localhost";
  std::vector<std::string> paths;    // cycled through, one per request
  std::vector<std::string> headers;  // "Name: value" lines added to every request
  int connections = 20;
  double seconds = 10;
  double timeout = 10;  // per request
};

int run_http_load(const HttpLoadOptions& options);
int run_http_stub(const sockaddr_in& at, std::size_t body_size);

}  // namespace postern::bench
