// The load generator's login modes (scripts/bench proxy):
//
//   imap-login  `clients` connections at a time, each looping: connect, read
//               the greeting, `a LOGIN user pass`, tagged OK, `b LOGOUT`,
//               tagged OK, wait for the server to close, close.
//   pop3-login  the same with USER / PASS / QUIT.
//   imap-idle   opens `connections` IMAP connections (`clients` logins in
//               flight at a time), logs each in and holds it; prints a JSON
//               line when all are held, then holds until SIGTERM or SIGINT and
//               prints how many were still open.
//
// Each worker thread runs its own epoll loop over its share of the clients:
// no locks on the data path, so the generator's own cost stays small (the
// stub mode measures it). Users are taken round-robin from the list, so
// consecutive logins are for distinct users.
#pragma once

#include <netinet/in.h>

#include <map>
#include <string>
#include <vector>

#include "test/bench/loadgen/net_util.hpp"

namespace postern::bench {

enum class LoginProtocol { Imap, Pop3 };

struct LoginLoadOptions {
  sockaddr_in target{};
  LoginProtocol protocol = LoginProtocol::Imap;
  std::vector<Credential> users;
  int clients = 50;     // concurrent sessions (idle: logins in flight)
  double seconds = 10;  // measured span (idle: the longest time to open them all)
  double timeout = 10;  // per step; a slower answer counts as an error
  int threads = 1;
  int connections = 0;  // idle only: connections to hold
};

struct LoginLoadResult {
  long logins = 0;  // tagged OK / +OK to the login within the span
  long cycles = 0;  // whole connect .. close cycles within the span
  double elapsed = 0;
  std::map<std::string, long> errors;  // by kind
  std::vector<std::string> samples;    // the first few error messages in full
  std::vector<float> latencies_ms;     // per completed cycle
};

// imap-login / pop3-login: runs for options.seconds and returns the counts.
LoginLoadResult run_login_load(const LoginLoadOptions& options);

// imap-idle: prints {"held":N,...} when done opening, holds until a signal,
// prints {"still_open":N}. Returns the process exit code.
int run_idle_hold(const LoginLoadOptions& options);

// One JSON object for a result (mode and options included).
std::string result_json(const char* mode, const LoginLoadOptions& options,
                        const LoginLoadResult& result);

// `text` as a JSON string literal (quotes added; control bytes escaped).
std::string json_string(const std::string& text);

}  // namespace postern::bench
