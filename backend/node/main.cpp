// postern-node: one back-end node (DESIGN.md section 6).
//
//   postern-node -c FILE      run in the foreground (logs to stderr unless the
//                             file says otherwise)
//   postern-node -c FILE -t   check the configuration file and exit
//
// SIGTERM / SIGINT: stop accepting, let sessions finish (up to
// node.drain_timeout), exit. SIGHUP: re-read the file and apply what can
// change at run time (the log settings); the rest needs a restart, and the log
// says so.
#include <event2/event.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <set>

#include "backend/node/node.hpp"
#include "core/event_loop.hpp"
#include "core/log.hpp"

namespace {

using namespace postern;

constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

std::set<std::string> protocols() {
  std::set<std::string> out;
  for (const auto& [name, factory] : node::node_services()) out.insert(name);
  return out;
}

struct SignalState {
  core::EventLoop* loop;
  node::Node* node;
  std::string file;
  bool draining = false;
  std::chrono::steady_clock::time_point drain_deadline;
};

void on_signal(int sig, short, void* arg) noexcept {
  auto* s = static_cast<SignalState*>(arg);
  if (sig == SIGHUP) {
    try {
      auto fresh = node::load_node_config(s->file, protocols());
      fresh.log.apply(s->file);
      core::log_info("reload").kv("file", s->file).kv("applied", "log").kv("ok", 1);
    } catch (const std::exception& e) {
      core::log_error("reload").kv("file", s->file).kv("ok", 0).kv("error", e.what());
    }
    return;
  }
  if (!s->draining) {
    s->draining = true;
    s->drain_deadline = std::chrono::steady_clock::now() + s->node->config().drain_timeout;
    core::log_info("draining").kv("sessions", s->node->sessions());
    s->node->drain();
  }
}

void on_tick(int, short, void* arg) noexcept {
  auto* s = static_cast<SignalState*>(arg);
  if (!s->draining) return;
  if (s->node->sessions() == 0 || std::chrono::steady_clock::now() >= s->drain_deadline) {
    core::log_info("stopped").kv("sessions_left", s->node->sessions());
    s->loop->stop();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string file;
  bool check_only = false;
  int opt;
  while ((opt = getopt(argc, argv, "c:th")) != -1) {
    switch (opt) {
      case 'c':
        file = optarg;
        break;
      case 't':
        check_only = true;
        break;
      default:
        std::cerr << "usage: postern-node -c FILE [-t]\n";
        return opt == 'h' ? 0 : kExitUsage;
    }
  }
  if (file.empty()) {
    std::cerr << "usage: postern-node -c FILE [-t]\n";
    return kExitUsage;
  }
  std::signal(SIGPIPE, SIG_IGN);
  // Every connection, and every account the store keeps open, holds
  // descriptors: take the hard limit rather than the usual soft 1024.
  if (rlimit nofile{};
      getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  try {
    auto config = node::load_node_config(file, protocols());
    if (check_only) {
      std::cout << file << ": ok\n";
      return 0;
    }
    config.log.apply(file);
    core::EventLoop loop;
    node::Node node(std::move(config));
    core::log_info("started").kv("node", node.config().name).kv("pid", getpid());

    SignalState state{&loop, &node, file};
    std::vector<core::EventPtr> events;
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
      events.emplace_back(evsignal_new(loop.base(), sig, &on_signal, &state));
      event_add(events.back().get(), nullptr);
    }
    events.emplace_back(event_new(loop.base(), -1, EV_PERSIST, &on_tick, &state));
    timeval tick{0, 100'000};
    event_add(events.back().get(), &tick);
    loop.run();
    events.clear();
    return 0;
  } catch (const core::ConfigError& e) {
    std::cerr << "postern-node: " << e.what() << "\n";
    return kExitConfig;
  } catch (const std::exception& e) {
    std::cerr << "postern-node: " << e.what() << "\n";
    return 1;
  }
}
