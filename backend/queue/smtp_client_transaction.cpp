// SmtpClientSession, second half: one mail transaction (MAIL, RCPT..., DATA,
// the message, the final reply) on an open connection.
#include <fmt/format.h>

#include <cassert>

#include "backend/queue/smtp_client_session.hpp"

namespace postern::node::queue {

namespace {

using Status = RecipientOutcome::Status;
using namespace std::chrono_literals;

constexpr std::size_t kHighWater = 256 * 1024;  // as in smtp_client_session.cpp

std::string clean(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n') out += c;
  }
  return out;
}

}  // namespace

void SmtpClientSession::transact(const RemoteDelivery& delivery,
                                 std::function<void(SmtpTransactionResult)> done) {
  assert(idle());
  delivery_ = delivery;
  tx_done_ = std::move(done);
  std::size_t n = delivery_.recipients.size();
  outcomes_.assign(n, RecipientOutcome{});
  for (auto& o : outcomes_) o.remote_mta = remote_mta();
  final_.assign(n, false);
  accepted_.assign(n, false);
  rcpt_sent_ = 0;
  rcpt_replied_ = 0;
  mail_rejected_.reset();
  stuffer_ = DotStuffer{};
  offset_ = 0;
  waiting_drain_ = false;
  if (delivery_.smtputf8 && !ext_.smtputf8) {
    // RFC 6531 3.4: no downgrade here; the sender learns why.
    fail_open_recipients(
        Status::PermFail,
        fmt::format("550 5.6.7 SMTPUTF8 is required, but was not offered by {}", remote_mta()));
    return finish_transaction(false);
  }
  if (used_) {
    // A reused connection: clear the last transaction and see it is alive.
    send("RSET");
    enter(Step::Rset);
  } else {
    begin_mail();
  }
  used_ = true;
}

std::string SmtpClientSession::mail_command() const {
  std::string cmd = "MAIL FROM:<" + clean(delivery_.sender) + ">";
  if (ext_.size) cmd += fmt::format(" SIZE={}", delivery_.size);
  if (delivery_.eight_bit && ext_.eight_bit_mime) cmd += " BODY=8BITMIME";
  if (delivery_.smtputf8 && ext_.smtputf8) cmd += " SMTPUTF8";
  if (ext_.dsn && !delivery_.ret.empty()) cmd += " RET=" + clean(delivery_.ret);
  if (ext_.dsn && !delivery_.envid.empty()) cmd += " ENVID=" + clean(delivery_.envid);
  return cmd;
}

std::string SmtpClientSession::rcpt_command(const Recipient& r) const {
  std::string cmd = "RCPT TO:<" + clean(r.address) + ">";
  if (ext_.dsn && !r.notify.empty()) cmd += " NOTIFY=" + clean(r.notify);
  if (ext_.dsn && !r.orcpt.empty()) cmd += " ORCPT=" + clean(r.orcpt);
  return cmd;
}

void SmtpClientSession::begin_mail() {
  send(mail_command());
  enter(Step::Mail);
  if (ext_.pipelining) {  // RFC 2920: MAIL and every RCPT in one go
    for (const auto& r : delivery_.recipients) send(rcpt_command(r));
    rcpt_sent_ = delivery_.recipients.size();
  }
}

void SmtpClientSession::set_outcome(std::size_t i, const SmtpReply& reply) {
  outcomes_[i].status = status_of_reply(reply);
  outcomes_[i].reply = reply.to_string();
  final_[i] = true;
}

void SmtpClientSession::on_transaction_reply(const SmtpReply& reply) {
  const std::size_t n = delivery_.recipients.size();
  switch (step_) {
    case Step::Rset:
      if (reply.positive()) return begin_mail();
      enter(Step::Closed);
      conn_->close();
      return finish_transaction(true);
    case Step::Mail:
      if (!reply.positive()) {
        mail_rejected_ = reply;
        if (!ext_.pipelining) return after_recipients();
        return enter(Step::Rcpt);  // the RCPT replies still come (503s)
      }
      enter(Step::Rcpt);
      if (!ext_.pipelining) send(rcpt_command(delivery_.recipients[rcpt_sent_++]));
      return;
    case Step::Rcpt: {
      std::size_t i = rcpt_replied_++;
      if (!mail_rejected_ && i < n) {
        if (reply.positive()) {
          accepted_[i] = true;
        } else {
          set_outcome(i, reply);
        }
      }
      if (rcpt_replied_ < n) {
        if (!ext_.pipelining) send(rcpt_command(delivery_.recipients[rcpt_sent_++]));
        return;
      }
      return after_recipients();
    }
    case Step::Data:
      if (reply.code / 100 == 3) {
        enter(Step::Body);
        // Nothing is expected from the server until the final dot; its
        // read timeout must not run while a large message goes out (the
        // write timeout still catches a server that stops taking bytes).
        conn_->pause_reading();
        return read_chunk();
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (!final_[i]) set_outcome(i, reply);
      }
      enter(Step::Idle);
      return finish_transaction(false);
    case Step::Dot:
      for (std::size_t i = 0; i < n; ++i) {
        if (!final_[i]) set_outcome(i, reply);  // the accepted ones
      }
      enter(Step::Idle);
      return finish_transaction(false);
    default:
      return;
  }
}

void SmtpClientSession::after_recipients() {
  if (mail_rejected_) {
    for (std::size_t i = 0; i < outcomes_.size(); ++i) set_outcome(i, *mail_rejected_);
    enter(Step::Idle);
    return finish_transaction(false);
  }
  bool any = false;
  for (bool a : accepted_) any = any || a;
  if (!any) {
    enter(Step::Idle);  // the open transaction is cleared by RSET before reuse
    return finish_transaction(false);
  }
  send("DATA");
  enter(Step::Data);
}

void SmtpClientSession::read_chunk() {
  if (step_ != Step::Body) return;
  std::weak_ptr<SmtpClientSession> weak = weak_from_this();
  bool queued = workers_.run([path = delivery_.message_path,
                              offset = offset_] { return read_message_chunk(path, offset); },
                             loop_,
                             [weak](SmtpMessageChunk chunk) {
                               if (auto self = weak.lock()) self->on_chunk(std::move(chunk));
                             });
  // A full worker queue is a moment's congestion; the DATA cannot pause
  // for long, but a few milliseconds are fine.
  if (!queued) retry_.arm(20ms);
}

void SmtpClientSession::on_chunk(SmtpMessageChunk chunk) {
  if (step_ != Step::Body) return;
  if (!chunk.error.empty()) {
    // What was sent cannot be taken back: close without the final dot, so
    // the server discards the message (RFC 5321 4.1.1.4).
    enter(Step::Closed);
    conn_->close();
    fail_open_recipients(Status::TempFail,
                         fmt::format("451 4.3.0 cannot read the queued message: {}", chunk.error));
    return finish_transaction(false);
  }
  conn_->write(stuffer_.feed(chunk.data));
  offset_ += chunk.data.size();
  if (chunk.eof) {
    conn_->write(stuffer_.finish());
    enter(Step::Dot);
    conn_->resume_reading();
    return;
  }
  if (conn_->output_pending() < kHighWater) {
    read_chunk();
  } else {
    waiting_drain_ = true;
  }
}

void SmtpClientSession::on_output_drained(core::Connection&) noexcept {
  if (step_ != Step::Body || !waiting_drain_) return;
  waiting_drain_ = false;
  read_chunk();
}

void SmtpClientSession::fail_open_recipients(RecipientOutcome::Status status,
                                             const std::string& reply) {
  for (std::size_t i = 0; i < outcomes_.size(); ++i) {
    if (final_[i]) continue;
    outcomes_[i].status = status;
    outcomes_[i].reply = reply;
    final_[i] = true;
  }
}

void SmtpClientSession::connection_lost(const std::string& reply) {
  fail_open_recipients(Status::TempFail, reply);
  finish_transaction(false);
}

void SmtpClientSession::finish_transaction(bool stale) {
  SmtpTransactionResult result;
  result.stale = stale;
  if (!stale) result.outcomes = outcomes_;
  if (!tx_done_) return;
  loop_.post([self = shared_from_this(), done = std::move(tx_done_),
              result = std::move(result)]() mutable { done(std::move(result)); });
  tx_done_ = nullptr;
}

}  // namespace postern::node::queue
