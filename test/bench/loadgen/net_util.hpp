// Small socket helpers shared by the load generator's modes (scripts/bench
// proxy). Plain POSIX: the generator must cost as little CPU as possible and
// depend on nothing the machine lacks.
#pragma once

#include <netinet/in.h>

#include <string>
#include <vector>

namespace postern::bench {

struct Credential {
  std::string login;
  std::string password;
};

// "HOST:PORT" or "PORT" (host 127.0.0.1). Exits with a message on a bad value.
sockaddr_in parse_address(const std::string& text);

// A non-blocking TCP socket whose connect() has been started (returns -1 and
// sets errno when even that failed). TCP_NODELAY is set: every command and
// reply of a login is one small segment that must not wait for Nagle.
int connect_nonblocking(const sockaddr_in& to);

// A blocking connected socket, or -1.
int connect_blocking(const sockaddr_in& to);

// A non-blocking listening socket (SO_REUSEADDR, SO_REUSEPORT), or exits.
int listen_on(const sockaddr_in& at);

// Lines "login password" (blank lines and # comments skipped). Exits when the
// file cannot be read or holds no user.
std::vector<Credential> read_users(const std::string& path);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
long raise_nofile_limit();

// Seconds on the monotonic clock.
double now_seconds();

// Writes all of `data` to a socket, retrying on EINTR; false on error or EAGAIN
// (the generator's commands are tiny: a full socket buffer means something broke).
bool send_all(int fd, const std::string& data);

}  // namespace postern::bench
