#include "proxy/splice_pump.hpp"

#include <event2/event.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace postern::proxy {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

SplicePump::SplicePump(core::EventLoop& loop, int client_fd, int node_fd, PipePool& pipes,
                       std::size_t pipe_size, std::chrono::milliseconds idle_timeout,
                       std::function<void(const Totals&)> done)
    : loop_(loop),
      pipes_(pipes),
      pipe_size_(pipe_size),
      idle_(idle_timeout),
      done_(std::move(done)) {
  up_.from = client_fd;
  up_.to = node_fd;
  up_.total = &totals_.bytes_in;
  up_.name = "client";
  down_.from = node_fd;
  down_.to = client_fd;
  down_.total = &totals_.bytes_out;
  down_.name = "node";
  for (Direction* d : {&up_, &down_}) {
    d->read_ev.reset(event_new(loop.base(), d->from, EV_READ | EV_PERSIST, &on_readable, this));
    d->write_ev.reset(event_new(loop.base(), d->to, EV_WRITE | EV_PERSIST, &on_writable, this));
    arm_read(*d);
  }
}

SplicePump::~SplicePump() {
  up_.read_ev.reset();
  up_.write_ev.reset();
  down_.read_ev.reset();
  down_.write_ev.reset();
  for (Direction* d : {&up_, &down_}) release_pipe(*d);
  close_fd(up_.from);
  close_fd(down_.from);
}

void SplicePump::release_pipe(Direction& d) {
  // A pipe with bytes in it would hand them to the next taker.
  if (d.in_pipe == 0) {
    pipes_.give(d.pipe);
  } else {
    PipePool::close(d.pipe);
    d.in_pipe = 0;
  }
}

void SplicePump::arm_read(Direction& d) {
  timeval tv = to_timeval(idle_);
  event_add(d.read_ev.get(), &tv);
}

void SplicePump::on_readable(int fd, short what, void* self) noexcept {
  auto* p = static_cast<SplicePump*>(self);
  if (p->ended_) return;
  Direction& d = fd == p->up_.from ? p->up_ : p->down_;
  if ((what & EV_TIMEOUT) != 0) return p->end(std::string(d.name) + "_timeout");
  p->pull(d);
}

void SplicePump::on_writable(int fd, short what, void* self) noexcept {
  auto* p = static_cast<SplicePump*>(self);
  if (p->ended_) return;
  Direction& d = fd == p->up_.to ? p->up_ : p->down_;
  // The receiver took nothing for the idle timeout.
  if ((what & EV_TIMEOUT) != 0)
    return p->end(std::string(&d == &p->up_ ? "node" : "client") + "_timeout");
  if (!p->push(d)) return;
  // Room in the pipe again: read the sender once more.
  if (!d.eof && (!d.pipe || d.in_pipe < d.pipe.capacity) &&
      !event_pending(d.read_ev.get(), EV_READ, nullptr))
    p->arm_read(d);
}

void SplicePump::pull(Direction& d) {
  // Read until the socket is empty or the pipe is full, writing as we go.
  // push() gives the pipe back whenever the receiver took every byte, so
  // a fast receiver keeps using the loop's one idle pipe.
  for (;;) {
    if (!d.pipe) {
      d.pipe = pipes_.take(pipe_size_);
      if (!d.pipe) return end("pipe_error");
    }
    if (d.in_pipe >= d.pipe.capacity) break;
    ssize_t n = ::splice(d.from, nullptr, d.pipe.write_fd, nullptr, d.pipe.capacity - d.in_pipe,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d.in_pipe += static_cast<std::size_t>(n);
      *d.total += static_cast<std::uint64_t>(n);
      if (!push(d)) return;
      continue;
    }
    if (n == 0) {
      d.eof = true;
      event_del(d.read_ev.get());
      if (d.in_pipe > 0) return;  // push() ends it once the pipe is empty
      pipes_.give(d.pipe);
      return end(std::string(d.name) + "_closed");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      // EAGAIN also means a full pipe, and a pipe fills by slots, not
      // bytes: 16 small segments fill a 64 KiB pipe long before 64 KiB.
      // With bytes waiting in it, the write event is armed (push() saw
      // EAGAIN): stop reading until it drains, or the readable socket would
      // wake us in a loop. An empty pipe cannot be full: the socket is
      // empty, and the pipe goes back.
      if (d.in_pipe > 0) {
        event_del(d.read_ev.get());
      } else {
        pipes_.give(d.pipe);
      }
      return;
    }
    return end(std::string(d.name) + "_error");
  }
  event_del(d.read_ev.get());  // pipe full: wait for the other side to take it
}

bool SplicePump::push(Direction& d) {
  while (d.in_pipe > 0) {
    ssize_t n = ::splice(d.pipe.read_fd, nullptr, d.to, nullptr, d.in_pipe,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d.in_pipe -= static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      timeval tv = to_timeval(idle_);
      event_add(d.write_ev.get(), &tv);
      return true;
    }
    end(std::string(&d == &up_ ? "node" : "client") + "_error");
    return false;
  }
  event_del(d.write_ev.get());
  pipes_.give(d.pipe);  // empty: the next read takes it again
  if (d.eof) {
    end(std::string(d.name) + "_closed");
    return false;
  }
  return true;
}

void SplicePump::close() {
  if (!ended_) end("closed");
}

void SplicePump::end(std::string reason) {
  if (ended_) return;
  ended_ = true;
  totals_.reason = std::move(reason);
  for (Direction* d : {&up_, &down_}) {
    event_del(d->read_ev.get());
    event_del(d->write_ev.get());
  }
  // Both sockets go now; a peer still sending gets a reset, as after any
  // close. Pipes and descriptors are freed with the pump.
  ::shutdown(up_.from, SHUT_RDWR);
  ::shutdown(down_.from, SHUT_RDWR);
  if (done_) done_(totals_);
}

}  // namespace postern::proxy
