#include "test/bench/loadgen/login_load.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

namespace postern::bench {
namespace {

enum class Step { Waiting, Connecting, Greeting, Login, User, Pass, Logout, Closing, Held };

const char* step_name(Step s) {
  static const char* const names[] = {"waiting", "connect", "greeting", "login", "user",
                                      "pass",    "logout",  "closing",  "held"};
  return names[static_cast<int>(s)];
}

struct Client {
  int fd = -1;
  Step step = Step::Waiting;
  std::string in;
  double deadline = 0;     // the current step must end before this
  double cycle_start = 0;  // connect() time
  double retry_at = 0;     // Waiting: when to start again
  bool started = false;    // idle mode: this slot has begun opening
  const Credential* user = nullptr;
};

constexpr double kRetryDelay = 0.05;  // after an error: no hot loop against a refusing server
constexpr std::size_t kMaxSamples = 5;

// Round-robin over the users, shared by every worker: consecutive logins
// are for distinct users whatever the thread.
std::atomic<unsigned long> g_next_user{0};

class Worker {
 public:
  Worker(const LoginLoadOptions& o, int slots, bool hold) : o_(o), hold_(hold), clients_(slots) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
  }
  ~Worker() { close(epoll_); }

  // Login modes: runs until `end`, then closes everything.
  void run_until(double end) {
    for (auto& c : clients_) start(c);
    end_ = end;
    loop([&] { return now_seconds() >= end; });
    for (auto& c : clients_) drop(c);
  }

  // Idle mode: opens every slot, `in_flight` at a time, until all are held or
  // `give_up` passes. The held sockets stay open.
  void open_all(int in_flight, double give_up) {
    end_ = give_up;
    for (int i = 0; i < in_flight && next_slot_ < clients_.size(); ++i)
      start(clients_[next_slot_++]);
    loop([&] { return held_ == static_cast<long>(clients_.size()) || now_seconds() >= give_up; });
  }

  std::vector<int> held_fds() const {
    std::vector<int> fds;
    for (auto& c : clients_)
      if (c.step == Step::Held) fds.push_back(c.fd);
    return fds;
  }

  LoginLoadResult result;
  long held_ = 0;

 private:
  template <typename Done>
  void loop(Done done) {
    epoll_event events[256];
    double next_sweep = 0;
    while (!done()) {
      int n = epoll_wait(epoll_, events, 256, 10);
      for (int i = 0; i < n; ++i) on_event(clients_[events[i].data.u32], events[i].events);
      double now = now_seconds();
      if (now >= next_sweep) {  // timeouts and retries: coarse is enough
        next_sweep = now + 0.01;
        for (auto& c : clients_) {
          if (c.step == Step::Waiting && c.started && now >= c.retry_at)
            start(c);
          else if (c.step != Step::Waiting && c.step != Step::Held && now > c.deadline)
            fail(c, "timeout", std::string("no answer in step ") + step_name(c.step));
        }
      }
    }
  }

  void start(Client& c) {
    c.started = true;
    c.user = &o_.users[g_next_user.fetch_add(1, std::memory_order_relaxed) % o_.users.size()];
    c.in.clear();
    double now = now_seconds();
    c.cycle_start = now;
    c.fd = connect_nonblocking(o_.target);
    if (c.fd < 0) return fail(c, "connect", std::strerror(errno));
    enter(c, Step::Connecting);
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u32 = static_cast<std::uint32_t>(&c - clients_.data());
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void enter(Client& c, Step s) {
    c.step = s;
    c.deadline = now_seconds() + o_.timeout;
  }

  void drop(Client& c) {
    if (c.fd >= 0) close(c.fd);  // also removes it from the epoll set
    c.fd = -1;
    c.step = Step::Waiting;
  }

  void fail(Client& c, const std::string& kind, const std::string& detail) {
    if (now_seconds() < end_ || hold_) {
      ++result.errors[kind];
      if (result.samples.size() < kMaxSamples)
        result.samples.push_back(kind + ": " + detail + (c.user ? " (" + c.user->login + ")" : ""));
    }
    drop(c);
    c.retry_at = now_seconds() + kRetryDelay;
  }

  void on_event(Client& c, std::uint32_t events) {
    if (c.step == Step::Connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fail(c, "connect", std::strerror(err));
      enter(c, Step::Greeting);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<std::uint32_t>(&c - clients_.data());
      epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
      if (!(events & EPOLLIN)) return;
    }
    char buf[4096];
    while (c.fd >= 0) {
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<std::size_t>(n));
        if (!lines(c)) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      // End of stream (or a reset): the normal end after LOGOUT / QUIT.
      if (c.step == Step::Held) --held_;
      if (c.step == Step::Logout || c.step == Step::Closing) return complete(c);
      return fail(c, "closed",
                  std::string("connection closed in step ") + step_name(c.step) +
                      (c.in.empty() ? "" : ": " + c.in.substr(0, 200)));
    }
  }

  // Handles every complete line; false once the client was closed.
  bool lines(Client& c) {
    std::size_t pos;
    while (c.fd >= 0 && (pos = c.in.find('\n')) != std::string::npos) {
      std::string line = c.in.substr(0, pos);
      c.in.erase(0, pos + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (o_.protocol == LoginProtocol::Imap)
        imap_line(c, line);
      else
        pop3_line(c, line);
    }
    return c.fd >= 0;
  }

  static bool starts(const std::string& s, const char* prefix) {
    return s.compare(0, std::strlen(prefix), prefix) == 0;
  }

  void send(Client& c, const std::string& text, Step next) {
    if (!send_all(c.fd, text)) return fail(c, "send", std::strerror(errno));
    enter(c, next);
  }

  void logged_in(Client& c) {
    if (now_seconds() < end_) ++result.logins;
    if (hold_) {
      enter(c, Step::Held);
      ++held_;
      if (next_slot_ < clients_.size()) start(clients_[next_slot_++]);
      return;
    }
    send(c, o_.protocol == LoginProtocol::Imap ? "b LOGOUT\r\n" : "QUIT\r\n", Step::Logout);
  }

  void imap_line(Client& c, const std::string& line) {
    switch (c.step) {
      case Step::Greeting:
        if (!starts(line, "* OK")) return fail(c, "greeting", line);
        return send(c, "a LOGIN \"" + c.user->login + "\" \"" + c.user->password + "\"\r\n",
                    Step::Login);
      case Step::Login:
        if (starts(line, "a OK")) return logged_in(c);
        if (starts(line, "a ")) return fail(c, "login refused", line);
        return;  // untagged (CAPABILITY): not ours to check
      case Step::Logout:
        if (starts(line, "b OK")) return enter(c, Step::Closing);
        if (starts(line, "b ")) return fail(c, "logout", line);
        return;
      default:
        return;  // Held / Closing: whatever arrives is ignored
    }
  }

  void pop3_line(Client& c, const std::string& line) {
    bool ok = starts(line, "+OK");
    switch (c.step) {
      case Step::Greeting:
        if (!ok) return fail(c, "greeting", line);
        return send(c, "USER " + c.user->login + "\r\n", Step::User);
      case Step::User:
        if (!ok) return fail(c, "login refused", line);
        return send(c, "PASS " + c.user->password + "\r\n", Step::Pass);
      case Step::Pass:
        if (!ok) return fail(c, "login refused", line);
        return logged_in(c);
      case Step::Logout:
        if (!ok) return fail(c, "logout", line);
        return enter(c, Step::Closing);
      default:
        return;
    }
  }

  void complete(Client& c) {
    double now = now_seconds();
    if (now < end_) {
      ++result.cycles;
      result.latencies_ms.push_back(static_cast<float>((now - c.cycle_start) * 1000));
    }
    drop(c);
    if (now < end_) start(c);
  }

  const LoginLoadOptions& o_;
  bool hold_;
  std::vector<Client> clients_;
  int epoll_ = -1;
  double end_ = 0;
  std::size_t next_slot_ = 0;
};

// Splits `total` slots over the threads.
std::vector<int> shares(int total, int threads) {
  std::vector<int> s(static_cast<std::size_t>(threads), total / threads);
  for (int i = 0; i < total % threads; ++i) ++s[static_cast<std::size_t>(i)];
  return s;
}

void merge(LoginLoadResult& into, LoginLoadResult& from) {
  into.logins += from.logins;
  into.cycles += from.cycles;
  for (auto& [k, v] : from.errors) into.errors[k] += v;
  for (auto& s : from.samples)
    if (into.samples.size() < kMaxSamples) into.samples.push_back(s);
  into.latencies_ms.insert(into.latencies_ms.end(), from.latencies_ms.begin(),
                           from.latencies_ms.end());
}

}  // namespace

LoginLoadResult run_login_load(const LoginLoadOptions& o) {
  std::vector<std::unique_ptr<Worker>> workers;
  for (int n : shares(o.clients, o.threads))
    workers.push_back(std::make_unique<Worker>(o, n, false));
  double t0 = now_seconds();
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w, end = t0 + o.seconds] { w->run_until(end); });
  for (auto& t : threads) t.join();
  LoginLoadResult r;
  r.elapsed = o.seconds;
  for (auto& w : workers) merge(r, w->result);
  return r;
}

int run_idle_hold(const LoginLoadOptions& o) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // inherited by the workers: main waits for them
  std::vector<std::unique_ptr<Worker>> workers;
  auto conns = shares(o.connections, o.threads);
  auto flight = shares(o.clients, o.threads);
  for (int n : conns) workers.push_back(std::make_unique<Worker>(o, n, true));
  double t0 = now_seconds();
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < workers.size(); ++i)
    threads.emplace_back([&, i] { workers[i]->open_all(std::max(1, flight[i]), t0 + o.seconds); });
  for (auto& t : threads) t.join();
  LoginLoadResult r;
  long held = 0;
  std::vector<int> fds;
  for (auto& w : workers) {
    merge(r, w->result);
    held += w->held_;
    auto f = w->held_fds();
    fds.insert(fds.end(), f.begin(), f.end());
  }
  r.elapsed = now_seconds() - t0;
  std::string errors;
  for (auto& [k, v] : r.errors)
    errors += (errors.empty() ? "" : ",") + json_string(k) + ":" + std::to_string(v);
  std::printf(
      "{\"mode\":\"imap-idle\",\"held\":%ld,\"wanted\":%d,\"seconds\":%.3f,\"errors\":{%s}}\n",
      held, o.connections, r.elapsed, errors.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  // Which held connections did the proxy keep? A closed one reads as POLLIN (EOF) or POLLHUP.
  long open = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) == 0) ++open;
  }
  std::printf("{\"mode\":\"imap-idle\",\"still_open\":%ld}\n", open);
  std::fflush(stdout);
  return held == o.connections ? 0 : 1;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char ch : text) {
    if (ch == '"' || ch == '\\')
      out += '\\', out += static_cast<char>(ch);
    else if (ch < 0x20 || ch >= 0x7f)
      out += '?';
    else
      out += static_cast<char>(ch);
  }
  return out + "\"";
}

std::string result_json(const char* mode, const LoginLoadOptions& o, const LoginLoadResult& r) {
  auto lat = r.latencies_ms;
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0.0
                       : static_cast<double>(lat[static_cast<std::size_t>(p * (lat.size() - 1))]);
  };
  std::string errors, samples;
  long error_count = 0;
  for (auto& [k, v] : r.errors) {
    errors += (errors.empty() ? "" : ",") + json_string(k) + ":" + std::to_string(v);
    error_count += v;
  }
  for (auto& s : r.samples) samples += (samples.empty() ? "" : ",") + json_string(s);
  char head[512];
  std::snprintf(head, sizeof head,
                "{\"mode\":\"%s\",\"clients\":%d,\"threads\":%d,\"seconds\":%.3f,\"logins\":%ld,"
                "\"cycles\":%ld,\"logins_per_second\":%.1f,\"error_count\":%ld,"
                "\"latency_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},",
                mode, o.clients, o.threads, r.elapsed, r.logins, r.cycles,
                r.elapsed > 0 ? static_cast<double>(r.logins) / r.elapsed : 0.0, error_count,
                pct(0.5), pct(0.99), lat.empty() ? 0.0 : static_cast<double>(lat.back()));
  return std::string(head) + "\"errors\":{" + errors + "},\"error_samples\":[" + samples + "]}";
}

}  // namespace postern::bench
