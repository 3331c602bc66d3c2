#include "tools/queue_commands.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <ostream>

#include "backend/queue/envelope_codec.hpp"
#include "backend/queue/queue.hpp"
#include "backend/queue/queue_id.hpp"
#include "core/log.hpp"
#include "tools/exit_codes.hpp"

namespace postern::tools {

namespace {

namespace q = node::queue;

std::string iso_time(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Text from the network (addresses, replies) is printed escaped, like logs.
std::string safe(const std::string& text) {
  return core::sanitize_log_value(text, 200);
}

// A blocking HTTP/1.0 POST with an empty body; the status code, or an error.
tl::expected<int, std::string> http_post(const core::Endpoint& to, const std::string& path) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string host = to.host.empty() || to.host == "*" ? "127.0.0.1" : to.host;
  std::string port = std::to_string(to.port);
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return tl::unexpected(fmt::format("{}: {}", host, ::gai_strerror(rc)));
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return tl::unexpected(last_error);
  std::string request = fmt::format(
      "POST {} HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", path, host);
  std::string_view rest = request;
  while (!rest.empty()) {
    ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return tl::unexpected(std::string(std::strerror(errno)));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string answer;
  char buf[512];
  ssize_t n = 0;
  while (answer.find("\r\n") == std::string::npos && (n = ::recv(fd, buf, sizeof buf, 0)) > 0)
    answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  // "HTTP/1.1 200 OK"
  auto space = answer.find(' ');
  if (answer.compare(0, 5, "HTTP/") != 0 || space == std::string::npos || answer.size() < space + 4)
    return tl::unexpected(std::string("no HTTP answer"));
  return std::atoi(answer.c_str() + space + 1);
}

}  // namespace

int run_queue_list(const std::string& queue_path, std::ostream& out, std::ostream& err) {
  auto entries = q::list_queue(queue_path);
  if (!entries) {
    err << fmt::format("posternctl: queue list: {}\n", entries.error());
    return kExitTempFail;
  }
  if (entries->empty()) {
    out << "queue is empty\n";
    return kExitOk;
  }
  for (const q::QueueEntry& e : *entries) {
    std::string line = fmt::format("{} {} {} <{}>", e.id, e.size, iso_time(e.envelope.arrival),
                                   safe(e.envelope.sender));
    if (e.envelope.is_bounce) line += " bounce=1";
    for (const q::Recipient& r : e.envelope.recipients) {
      line +=
          fmt::format(" {}={}:{}", safe(r.address), q::state_name(r.state), q::route_name(r.route));
      if (!r.last_reply.empty()) line += fmt::format(" \"{}\"", safe(r.last_reply));
    }
    out << line << "\n";
  }
  return kExitOk;
}

int run_queue_delete(const std::string& queue_path, const std::string& id, std::ostream& out,
                     std::ostream& err) {
  if (!q::is_queue_id(id)) {
    err << fmt::format("posternctl: queue delete: \"{}\" is not a queue id\n", safe(id));
    return kExitUsage;
  }
  auto removed = q::delete_queued(queue_path, id);
  if (!removed) {
    err << fmt::format("posternctl: queue delete: {}\n", removed.error());
    return kExitSoftware;
  }
  if (!*removed) {
    err << fmt::format("posternctl: queue delete: {}: no such message\n", id);
    return kExitNoUser;
  }
  out << fmt::format("{}: deleted\n", id);
  return kExitOk;
}

int run_queue_flush(const std::optional<core::Endpoint>& admin, std::ostream& out,
                    std::ostream& err) {
  if (!admin) {
    err << "posternctl: queue flush: admin: missing; the node's file needs an admin address "
           "to reach the running node\n";
    return kExitConfig;
  }
  auto status = http_post(*admin, "/queue/flush");
  if (!status) {
    err << fmt::format("posternctl: queue flush: the node is not running (admin {}: {})\n",
                       admin->to_string(), status.error());
    return kExitTempFail;
  }
  if (*status != 200) {
    err << fmt::format("posternctl: queue flush: the node's admin {} answered HTTP {}\n",
                       admin->to_string(), *status);
    return kExitTempFail;
  }
  out << "queue flush requested\n";
  return kExitOk;
}

}  // namespace postern::tools
