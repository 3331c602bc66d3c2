#include "test/bench/loadgen/net_util.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace postern::bench {

sockaddr_in parse_address(const std::string& text) {
  std::string host = "127.0.0.1";
  std::string port = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p <= 0 || p > 65535 ||
      inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    std::fprintf(stderr, "loadgen: bad address '%s' (want IPv4:PORT)\n", text.c_str());
    std::exit(2);
  }
  a.sin_port = htons(static_cast<std::uint16_t>(p));
  return a;
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int connect_nonblocking(const sockaddr_in& to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_nodelay(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0 && errno != EINPROGRESS) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

int connect_blocking(const sockaddr_in& to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  set_nodelay(fd);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int listen_on(const sockaddr_in& at) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) < 0 ||
      listen(fd, 4096) < 0) {
    std::perror("loadgen: listen");
    std::exit(1);
  }
  return fd;
}

std::vector<Credential> read_users(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "loadgen: cannot read users file '%s'\n", path.c_str());
    std::exit(2);
  }
  std::vector<Credential> users;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Credential c;
    if (fields >> c.login >> c.password) users.push_back(std::move(c));
  }
  if (users.empty()) {
    std::fprintf(stderr, "loadgen: no users in '%s'\n", path.c_str());
    std::exit(2);
  }
  return users;
}

long raise_nofile_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  return static_cast<long>(r.rlim_cur);
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool send_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace postern::bench
