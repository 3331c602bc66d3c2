#include "proxy/pump.hpp"

#include <unistd.h>

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
           std::unique_ptr<core::Connection> node, std::size_t buffer, bool splice,
           std::chrono::milliseconds idle_timeout, std::function<void(const Result&)> done,
           std::uint64_t splice_after)
    : loop_(loop),
      client_(std::move(client)),
      node_(std::move(node)),
      buffer_(buffer),
      done_(std::move(done)),
      splice_(splice),
      splice_after_(splice_after),
      idle_(idle_timeout) {
  client_->set_handler(this);
  node_->set_handler(this);
  client_->resume_reading();
  node_->resume_reading();
  if (client_->input_size() > 0) forward(*client_, *node_);
  if (node_->input_size() > 0) forward(*node_, *client_);
}

Pump::~Pump() {
  // Closing here must not call back into a half-destroyed pump.
  client_->set_handler(nullptr);
  node_->set_handler(nullptr);
}

void Pump::close() {
  if (spliced_) return spliced_->close();
  if (result_.reason.empty()) result_.reason = "closed";
  if (!client_->closed()) client_->close();
  if (!node_->closed()) node_->close();
}

void Pump::forward(core::Connection& from, core::Connection& to) {
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
  if (!splice_ || quiescing_ || spliced_ || finished_) return;
  if (result_.bytes_in + result_.bytes_out < splice_after_) return;
  if (client_->tls_active() || node_->tls_active()) return;
  if (client_->closed() || node_->closed()) return;
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
    splice_ = false;
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
  spliced_ = std::make_unique<SplicePump>(loop_, client_fd, node_fd, buffer_, idle_,
                                          [this](const SplicePump::Totals& t) { spliced_done(t); });
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
