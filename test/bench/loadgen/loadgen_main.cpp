// loadgen: the load generator of scripts/bench proxy (issue 5). Written in
// C++ with epoll so that it is not the bottleneck: its ceiling is measured
// against its own instant-reply stub mode.
//
//   loadgen imap-login --to HOST:PORT --users FILE [--clients 50] [--seconds 10]
//                      [--threads 1] [--timeout 10]
//   loadgen pop3-login (same options)
//   loadgen imap-idle  --to HOST:PORT --users FILE --connections N [--clients 100]
//                      [--seconds 60] [--threads 1]
//   loadgen fetch      --to HOST:PORT --user LOGIN --password PASS [--uid 1]
//                      [--mailbox INBOX] [--iterations 5]
//   loadgen stub       [--imap HOST:PORT] [--pop3 HOST:PORT] [--threads 1]
//   loadgen http       --to HOST:PORT --paths FILE [--cookie "a=b; c=d"] [--host NAME]
//                      [--connections 20] [--seconds 10] [--timeout 10]
//   loadgen http-stub  --listen HOST:PORT [--size 2000]
//
// Each mode prints its result as one JSON line on stdout (imap-idle: one when
// all connections are held, one after SIGTERM). The users file holds
// "login password" lines.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include <fstream>

#include "test/bench/loadgen/fetch_load.hpp"
#include "test/bench/loadgen/http_load.hpp"
#include "test/bench/loadgen/login_load.hpp"
#include "test/bench/loadgen/net_util.hpp"
#include "test/bench/loadgen/stub_server.hpp"

using namespace postern::bench;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: loadgen imap-login|pop3-login --to HOST:PORT --users FILE [--clients N]\n"
               "                 [--seconds S] [--threads T] [--timeout S]\n"
               "       loadgen imap-idle --to HOST:PORT --users FILE --connections N\n"
               "                 [--clients N] [--seconds S] [--threads T]\n"
               "       loadgen fetch --to HOST:PORT --user LOGIN --password PASS [--uid N]\n"
               "                 [--mailbox NAME] [--iterations N]\n"
               "       loadgen stub [--imap HOST:PORT] [--pop3 HOST:PORT] [--threads T]\n"
               "       loadgen http --to HOST:PORT --paths FILE [--cookie C] [--host NAME]\n"
               "                 [--connections N] [--seconds S] [--timeout S]\n"
               "       loadgen http-stub --listen HOST:PORT [--size BYTES]\n");
  std::exit(2);
}

// --name value pairs.
std::map<std::string, std::string> parse(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 2; i < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) usage();
    args[key.substr(2)] = argv[i + 1];
  }
  return args;
}

std::string need(const std::map<std::string, std::string>& a, const char* key) {
  auto it = a.find(key);
  if (it == a.end()) {
    std::fprintf(stderr, "loadgen: --%s is required\n", key);
    usage();
  }
  return it->second;
}

double number(const std::map<std::string, std::string>& a, const char* key, double fallback) {
  auto it = a.find(key);
  if (it == a.end()) return fallback;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (*end != '\0' || v < 0) {
    std::fprintf(stderr, "loadgen: --%s wants a number, got '%s'\n", key, it->second.c_str());
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage();
  std::string mode = argv[1];
  auto a = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  raise_nofile_limit();
  int threads = std::max(1, static_cast<int>(number(a, "threads", 1)));
  if (mode == "stub") {
    std::optional<sockaddr_in> imap, pop3;
    if (a.count("imap")) imap = parse_address(a["imap"]);
    if (a.count("pop3")) pop3 = parse_address(a["pop3"]);
    if (!imap && !pop3) usage();
    return run_stub(imap, pop3, threads);
  }
  if (mode == "http-stub") {
    return run_http_stub(parse_address(need(a, "listen")),
                         static_cast<std::size_t>(number(a, "size", 2000)));
  }
  if (mode == "http") {
    HttpLoadOptions h;
    h.target = parse_address(need(a, "to"));
    std::ifstream paths(need(a, "paths"));
    for (std::string line; std::getline(paths, line);) {
      if (!line.empty()) h.paths.push_back(line);
    }
    if (h.paths.empty()) {
      std::fprintf(stderr, "loadgen: no path in %s\n", a["paths"].c_str());
      return 2;
    }
    if (a.count("cookie")) h.headers.push_back("Cookie: " + a["cookie"]);
    if (a.count("host")) h.host = a["host"];
    h.connections = std::max(1, static_cast<int>(number(a, "connections", 20)));
    h.seconds = number(a, "seconds", 10);
    h.timeout = number(a, "timeout", 10);
    return run_http_load(h);
  }
  if (mode == "fetch") {
    FetchOptions f;
    f.target = parse_address(need(a, "to"));
    f.user = {need(a, "user"), need(a, "password")};
    f.uid = static_cast<long>(number(a, "uid", 1));
    f.iterations = std::max(1, static_cast<int>(number(a, "iterations", 5)));
    if (a.count("mailbox")) f.mailbox = a["mailbox"];
    return run_fetch(f);
  }
  LoginLoadOptions o;
  o.target = parse_address(need(a, "to"));
  o.users = read_users(need(a, "users"));
  o.threads = threads;
  o.timeout = number(a, "timeout", 10);
  if (mode == "imap-idle") {
    o.connections = static_cast<int>(number(a, "connections", 0));
    o.clients = std::max(1, static_cast<int>(number(a, "clients", 100)));
    o.seconds = number(a, "seconds", 60);
    if (o.connections <= 0) usage();
    return run_idle_hold(o);
  }
  if (mode != "imap-login" && mode != "pop3-login") usage();
  o.protocol = mode == "imap-login" ? LoginProtocol::Imap : LoginProtocol::Pop3;
  o.clients = std::max(1, static_cast<int>(number(a, "clients", 50)));
  o.seconds = number(a, "seconds", 10);
  auto r = run_login_load(o);
  std::printf("%s\n", result_json(mode.c_str(), o, r).c_str());
  return 0;
}
