#include "proxy/pump.hpp"

#include <unistd.h>

#include <algorithm>

namespace postern::proxy {

namespace {

std::string side_reason(bool client, core::CloseReason r) {
  std::string who = client ? "client_" : "node_";
  switch (r) {
    case core::CloseReason::PeerClosed:
      return who + "closed";
    case core::CloseReason::Timeout:
      return who + "timeout";
    case core::CloseReason::Error:
    case core::CloseReason::TlsError:
      return who + "error";
    case core::CloseReason::Local:
      return "closed";
  }
  return "closed";
}

}  // namespace

Pump::Pump(core::EventLoop& loop, std::unique_ptr<core::Connection> client,
           std::unique_ptr<core::Connection> node, std::size_t buffer, SpliceOptions splice,
           std::chrono::milliseconds idle_timeout, std::function<void(const Result&)> done,
           std::uint64_t splice_after, std::unique_ptr<Handback> handback)
    : loop_(loop),
      client_(std::move(client)),
      node_(std::move(node)),
      buffer_(buffer),
      done_(std::move(done)),
      splice_(splice),
      splice_after_(splice_after),
      idle_(idle_timeout),
      handback_(std::move(handback)) {
  client_->set_handler(this);
  node_->set_handler(this);
  client_->resume_reading();
  node_->resume_reading();
}

void Pump::start() {
  if (client_->input_size() > 0) forward(*client_, *node_);
  // The client's input may have ended the session (a LOGOUT) already.
  if (!released_ && node_ && node_->input_size() > 0) forward(*node_, *client_);
}

Pump::~Pump() {
  // Closing here must not call back into a half-destroyed pump.
  client_->set_handler(nullptr);
  if (node_) node_->set_handler(nullptr);
}

void Pump::close() {
  if (spliced_) return spliced_->close();
  if (result_.reason.empty()) result_.reason = "closed";
  if (!client_->closed()) client_->close();
  if (node_ && !node_->closed()) node_->close();
}

void Pump::forward_client_watched() {
  Handback::ClientScan scan = handback_->scan_client(client_->peek_input());
  result_.bytes_in += client_->forward_input_to(*node_, scan.pass);
  if (scan.end) {
    result_.bytes_in += scan.end_len;
    // Whatever the client sent after its LOGOUT is for no one.
    client_->drain_input(client_->input_size());
    releasing_ = true;
    if (scan.settled && node_->input_size() == 0 && node_->output_pending() == 0 &&
        !node_->closed()) {
      // Nothing owed: the client hears its goodbye now, and the release
      // command travels with the next login on this connection.
      return release_node(true, handback_->release_command());
    }
    // A node that does not answer within this ends the session.
    node_->set_idle_timeout(std::min(idle_, kReleaseTimeout));
    node_->write(handback_->release_command());
    if (node_->input_size() > 0) forward_node_releasing();
    return;
  }
  if (node_->output_pending() >= buffer_) {
    client_->pause_reading();
    client_paused_ = true;
  }
  maybe_quiesce();
}

void Pump::forward_node_releasing() {
  Handback::NodeScan scan = handback_->scan_node(node_->peek_input());
  if (client_->closed()) {
    node_->drain_input(scan.pass);
  } else {
    result_.bytes_out += node_->forward_input_to(*client_, scan.pass);
  }
  if (!scan.done) {
    if (!client_->closed() && client_->output_pending() >= buffer_) {
      node_->pause_reading();
      node_paused_ = true;
    }
    return;
  }
  node_->drain_input(scan.answer_len);
  release_node(scan.clean && node_->input_size() == 0);
}

void Pump::release_node(bool clean, std::string pending) {
  released_ = true;
  ++closed_;  // the node's side is done with
  std::unique_ptr<core::Connection> node = std::move(node_);
  node->set_handler(nullptr);
  if (clean && !node->closed() && node->output_pending() == 0) {
    handback_->released(std::move(node), std::move(pending));
  } else {
    if (!node->closed()) node->close();
    // Freed on the next turn: we may be inside one of its callbacks.
    loop_.post([gone = std::shared_ptr<core::Connection>(std::move(node))] {});
  }
  if (result_.reason.empty()) result_.reason = "logout";
  if (!client_->closed()) {
    const std::string bye = handback_->farewell();
    result_.bytes_out += bye.size();
    client_->write(bye);
    client_->close_after_flush();
  } else if (!finished_) {
    finished_ = true;
    if (done_) done_(result_);
  }
}

void Pump::forward(core::Connection& from, core::Connection& to) {
  if (handback_) {
    if (&from == client_.get()) {
      if (!releasing_) return forward_client_watched();
      from.drain_input(from.input_size());
      return;
    }
    if (releasing_) return forward_node_releasing();
    handback_->watch_node(from.peek_input());
  }
  std::size_t n = from.forward_input_to(to);
  if (&from == client_.get()) {
    result_.bytes_in += n;
  } else {
    result_.bytes_out += n;
  }
  if (quiescing_) return;  // both sides are paused already
  if (to.output_pending() >= buffer_) {
    from.pause_reading();
    (&from == client_.get() ? client_paused_ : node_paused_) = true;
  }
  maybe_quiesce();
}

void Pump::on_input(core::Connection& c) noexcept {
  if (released_) {
    c.drain_input(c.input_size());
    return;
  }
  // The node's answer to the release decides, whether or not the client is
  // still there to hear the rest.
  if (releasing_ && &c == node_.get()) return forward_node_releasing();
  core::Connection& to = other(c);
  if (to.closed()) return;
  forward(c, to);
}

Pump::Result Pump::progress() const {
  Result r = result_;
  if (spliced_ && !finished_) {
    r.bytes_in += spliced_->totals().bytes_in;
    r.bytes_out += spliced_->totals().bytes_out;
  }
  return r;
}

void Pump::maybe_quiesce() {
  // Splicing costs a few system calls (new descriptors, two pipes): worth it
  // for a bulk transfer, not for a login and a logout. So the first
  // kSpliceAfter bytes go through our buffers; past that, both sides stop
  // being read until every buffer is empty, and then the sockets move.
  if (!splice_.pipes || quiescing_ || spliced_ || finished_ || releasing_) return;
  if (result_.bytes_in + result_.bytes_out < splice_after_) return;
  if (client_->tls_active() || node_->tls_active()) return;
  if (client_->closed() || node_->closed()) return;
  // A bulk session: the kernel moves its bytes from here on, and nobody
  // watches them for the end of the session any more.
  handback_.reset();
  quiescing_ = true;
  client_->pause_reading();
  node_->pause_reading();
  // on_output_drained() now comes when an output is empty, not half full.
  client_->set_output_low_water(0);
  node_->set_output_low_water(0);
  try_splice();
}

void Pump::try_splice() {
  if (!quiescing_ || spliced_ || finished_) return;
  // Bytes read just before the pause: send them on, and wait again.
  if (client_->input_size() > 0) result_.bytes_in += client_->forward_input_to(*node_);
  if (node_->input_size() > 0) result_.bytes_out += node_->forward_input_to(*client_);
  if (!client_->detachable() || !node_->detachable()) return;
  int client_fd = client_->detach();
  if (client_fd < 0) {
    // No descriptor to spare (dup): stay in our buffers for good.
    splice_.pipes = nullptr;
    quiescing_ = false;
    client_->set_output_low_water(buffer_ / 2);
    node_->set_output_low_water(buffer_ / 2);
    client_->resume_reading();
    node_->resume_reading();
    return;
  }
  int node_fd = node_->detach();
  if (node_fd < 0) {
    // The client's side is already handed over: end the session cleanly.
    ::close(client_fd);
    result_.reason = "error";
    closed_ = 1;     // the client's side
    node_->close();  // on_closed() then ends the pump
    return;
  }
  result_.spliced = true;
  spliced_ =
      std::make_unique<SplicePump>(loop_, client_fd, node_fd, *splice_.pipes, splice_.pipe_size,
                                   idle_, [this](const SplicePump::Totals& t) { spliced_done(t); });
}

void Pump::spliced_done(const SplicePump::Totals& t) {
  if (finished_) return;
  finished_ = true;
  result_.bytes_in += t.bytes_in;
  result_.bytes_out += t.bytes_out;
  if (result_.reason.empty()) result_.reason = t.reason;
  if (done_) done_(result_);
}

void Pump::on_output_drained(core::Connection& c) noexcept {
  if (released_) return;
  if (quiescing_) return try_splice();
  // c's output fell below half: read the side that feeds it again.
  core::Connection& from = other(c);
  bool& paused = &from == client_.get() ? client_paused_ : node_paused_;
  if (paused && !from.closed()) {
    paused = false;
    from.resume_reading();
    if (from.input_size() > 0) forward(from, c);
  }
}

void Pump::on_closed(core::Connection& c, core::CloseReason reason) noexcept {
  ++closed_;
  if (result_.reason.empty()) result_.reason = side_reason(&c == client_.get(), reason);
  if (releasing_ && !released_) {
    // The client may go before the node confirms the release: the node's
    // answer still decides whether its connection is reused, so the node is
    // read again if the client's full output had paused it.
    if (&c == client_.get()) {
      if (node_paused_) {
        node_paused_ = false;
        node_->resume_reading();
      }
      if (node_->input_size() > 0) forward_node_releasing();
      return;
    }
    // The node went away instead of answering: the client asked to log out,
    // and it is logged out.
    released_ = true;
    node_->set_handler(nullptr);
    loop_.post([gone = std::shared_ptr<core::Connection>(std::move(node_))] {});
    if (!client_->closed()) {
      const std::string bye = handback_->farewell();
      result_.bytes_out += bye.size();
      client_->write(bye);
      client_->close_after_flush();
      return;
    }
  }
  if (released_) {
    if (closed_ >= 2 && !finished_) {
      finished_ = true;
      if (done_) done_(result_);
    }
    return;
  }
  core::Connection& peer = other(c);
  if (!peer.closed()) {
    // What the closed side said last still reaches the other one.
    peer.close_after_flush();
    return;
  }
  if (closed_ >= 2 && !finished_) {
    finished_ = true;
    if (done_) done_(result_);
  }
}

}  // namespace postern::proxy
