#include "test/bench/loadgen/stub_server.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "test/bench/loadgen/net_util.hpp"

namespace postern::bench {
namespace {

struct Session {
  bool pop3 = false;
  std::string in;
};

class StubLoop {
 public:
  StubLoop(std::optional<sockaddr_in> imap, std::optional<sockaddr_in> pop3) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (imap) imap_listener_ = add_listener(*imap);
    if (pop3) pop3_listener_ = add_listener(*pop3);
  }

  void run() {
    epoll_event events[256];
    for (;;) {
      int n = epoll_wait(epoll_, events, 256, -1);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == imap_listener_ || fd == pop3_listener_)
          accept_all(fd);
        else
          on_readable(fd);
      }
    }
  }

 private:
  int add_listener(const sockaddr_in& at) {
    int fd = listen_on(at);
    watch(fd);
    return fd;
  }

  void watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }

  void accept_all(int listener) {
    for (;;) {
      int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: another loop took it, or none left
      bool pop3 = listener == pop3_listener_;
      sessions_[fd] = Session{pop3, {}};
      watch(fd);
      send_all(fd, pop3 ? "+OK stub ready\r\n" : "* OK [CAPABILITY IMAP4rev1] stub ready\r\n");
    }
  }

  void end(int fd) {
    sessions_.erase(fd);
    close(fd);
  }

  void on_readable(int fd) {
    auto it = sessions_.find(fd);
    if (it == sessions_.end()) return;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return end(fd);
    Session& s = it->second;
    s.in.append(buf, static_cast<std::size_t>(n));
    std::size_t pos;
    while ((pos = s.in.find('\n')) != std::string::npos) {
      std::string line = s.in.substr(0, pos);
      s.in.erase(0, pos + 1);
      if (!(s.pop3 ? pop3_line(fd, line) : imap_line(fd, line))) return end(fd);
    }
  }

  // False: close the connection.
  static bool imap_line(int fd, const std::string& line) {
    auto space = line.find(' ');
    std::string tag = line.substr(0, space);
    std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    std::string verb = rest.substr(0, rest.find(' '));
    for (auto& ch : verb) ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
    if (verb.rfind("LOGOUT", 0) == 0) {
      send_all(fd, "* BYE stub\r\n" + tag + " OK LOGOUT completed\r\n");
      return false;
    }
    if (verb == "LOGIN") return send_all(fd, tag + " OK LOGIN completed\r\n");
    return send_all(fd, tag + " BAD stub knows LOGIN and LOGOUT\r\n");
  }

  static bool pop3_line(int fd, const std::string& line) {
    if (line.rfind("QUIT", 0) == 0) {
      send_all(fd, "+OK bye\r\n");
      return false;
    }
    return send_all(fd, "+OK\r\n");
  }

  int epoll_ = -1;
  int imap_listener_ = -1;
  int pop3_listener_ = -1;
  std::unordered_map<int, Session> sessions_;
};

}  // namespace

int run_stub(std::optional<sockaddr_in> imap, std::optional<sockaddr_in> pop3, int threads) {
  std::vector<std::thread> loops;
  std::vector<std::unique_ptr<StubLoop>> stubs;
  for (int i = 0; i < threads; ++i) stubs.push_back(std::make_unique<StubLoop>(imap, pop3));
  std::printf("{\"mode\":\"stub\",\"listening\":true}\n");
  std::fflush(stdout);
  for (auto& s : stubs) loops.emplace_back([&s] { s->run(); });
  for (auto& t : loops) t.join();
  return 0;
}

}  // namespace postern::bench
