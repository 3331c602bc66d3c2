// A scripted SMTP server for the transport's tests: 127.0.0.1, a free port,
// one thread; each accepted connection runs the next script of the list
// (blocking sockets, one connection at a time) and what the client sent is
// kept for the test to check.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace postern::test {

class ScriptPeer {
 public:
  explicit ScriptPeer(int fd) : fd_(fd) {}
  ~ScriptPeer() {
    if (ssl_ != nullptr) SSL_free(ssl_);
  }
  void send(const std::string& text) {
    if (ssl_ != nullptr) {
      SSL_write(ssl_, text.data(), static_cast<int>(text.size()));
    } else {
      (void)::write(fd_, text.data(), text.size());
    }
  }
  // The server side of STARTTLS; false if the handshake failed.
  bool start_tls(SSL_CTX* ctx) {
    buffer_.clear();
    ssl_ = SSL_new(ctx);
    SSL_set_fd(ssl_, fd_);
    return SSL_accept(ssl_) == 1;
  }
  SSL* ssl() const { return ssl_; }
  // One line without its CRLF; "<eof>" when the client closed or after 5 s.
  std::string line() {
    while (true) {
      auto eol = buffer_.find("\r\n");
      if (eol != std::string::npos) {
        std::string l = buffer_.substr(0, eol);
        buffer_.erase(0, eol + 2);
        lines.push_back(l);
        return l;
      }
      if (!fill()) return "<eof>";
    }
  }
  // The DATA bytes as sent (still dot-stuffed) up to and without CRLF.CRLF.
  std::string data() {
    while (true) {
      std::string probe = "\r\n" + buffer_;
      auto end = probe.find("\r\n.\r\n");
      if (end != std::string::npos) {
        std::string body = probe.substr(2, end);  // through the CRLF before "."
        buffer_.erase(0, end + 3);
        return body;
      }
      if (!fill()) return "<eof>";
    }
  }
  // True if the client closed the connection within `ms`.
  bool closed_within(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return false;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK) == 0;
  }
  std::vector<std::string> lines;

 private:
  bool fill() {
    pollfd p{fd_, POLLIN, 0};
    bool pending = ssl_ != nullptr && SSL_pending(ssl_) > 0;
    if (!pending && ::poll(&p, 1, 5000) <= 0) return false;
    char buf[65536];
    ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, buf, sizeof buf) : ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  int fd_;
  SSL* ssl_ = nullptr;
  std::string buffer_;
};

class ScriptServer {
 public:
  using Script = std::function<void(ScriptPeer&)>;

  explicit ScriptServer(std::vector<Script> scripts) : scripts_(std::move(scripts)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }
  // The lines each connection received, in accept order.
  std::vector<std::vector<std::string>> transcripts() {
    std::lock_guard lock(mutex_);
    return transcripts_;
  }
  // True if another client is waiting to be accepted within `ms`.
  bool connection_pending(int ms) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  }
  // Waits until `n` scripts (default: all) have run, or 10 s.
  void wait_done(int n = -1) {
    if (n < 0) n = static_cast<int>(scripts_.size());
    for (int i = 0; i < 1000 && done_ < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

 private:
  void serve() {
    while (!stop_ && accepted_ < static_cast<int>(scripts_.size())) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ScriptPeer peer(c);
      scripts_[static_cast<std::size_t>(accepted_++)](peer);
      ::close(c);
      {
        std::lock_guard lock(mutex_);
        transcripts_.push_back(peer.lines);
      }
      ++done_;
    }
  }

  std::vector<Script> scripts_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> done_{0};
  std::mutex mutex_;
  std::vector<std::vector<std::string>> transcripts_;
  std::thread thread_;
};

}  // namespace postern::test
