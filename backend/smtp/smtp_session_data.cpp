// DATA: the message into the queue (or straight into local mailboxes), a
// block at a time, with our trace headers first; 250 once it is durable.
#include <event2/buffer.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "backend/queue/queue_id.hpp"
#include "backend/smtp/received_header.hpp"
#include "backend/smtp/smtp_session.hpp"
#include "core/log.hpp"

namespace postern::node::smtp {

namespace {

// The most message bytes held in memory before they are written to the
// queue file (a 10 KB message is written once, with its commit).
constexpr std::size_t kBlock = 256 * 1024;
// Input looked at per round in the DATA phase.
constexpr std::size_t kDataFeed = 64 * 1024;

}  // namespace

void SmtpSession::data() {
  if (!tx_.active) {
    reply_error({503, "5.5.1", "Error: need MAIL command"});
    return;
  }
  if (tx_.recipients.empty()) {
    reply_error({554, "5.5.1", "Error: no valid recipients"});
    return;
  }
  reply_raw("354 End data with <CR><LF>.<CR><LF>\r\n");
  in_data_ = true;
  data_reader_.reset();
  header_scan_.reset();
  data_bytes_ = 0;
  too_big_ = false;
  sink_ = std::make_shared<Sink>();
  sink_->id = queue::make_queue_id();
  block_ = trace_headers();
}

std::string SmtpSession::trace_headers() const {
  ReceivedInfo info;
  info.helo = helo_;
  info.client_address = client_text_;
  info.by = ctx_.config.hostname;
  info.esmtp = esmtp_;
  info.tls = conn_->tls_active();
  info.tls_description = conn_->tls_description();
  info.authenticated = !auth_user_.empty();
  info.id = sink_ ? sink_->id : std::string();
  if (tx_.recipients.size() == 1) info.recipient = tx_.recipients.front().address;
  info.when = std::time(nullptr);
  return received_header(info) + tx_.spf_header;
}

void SmtpSession::process_data() {
  while (in_data_ && !writing_ && !closed_) {
    evbuffer* in = conn_->input();
    const std::size_t available = in != nullptr ? evbuffer_get_length(in) : 0;
    if (available == 0) return;
    const std::size_t n = std::min(available, kDataFeed);
    const auto* bytes =
        reinterpret_cast<const char*>(evbuffer_pullup(in, static_cast<ev_ssize_t>(n)));
    std::string chunk;
    DataReader::Result r = data_reader_.feed(std::string_view(bytes, n), chunk);
    evbuffer_drain(in, r.consumed);
    header_scan_.feed(chunk);
    data_bytes_ += chunk.size();
    if (data_bytes_ > ctx_.config.max_message_size) {
      // Read to the end, keep nothing: the reply comes after the final dot.
      too_big_ = true;
      block_.clear();
      block_.shrink_to_fit();
    } else {
      block_ += chunk;
    }
    if (r.done) {
      in_data_ = false;
      end_of_data();
      return;
    }
    if (!too_big_ && block_.size() >= kBlock) {
      write_block();
      return;
    }
  }
}

void SmtpSession::write_block() {
  writing_ = true;
  auto sink = sink_;
  auto* queue = &ctx_.queue;
  const bool queued = run_blocking(
      [sink, queue, bytes = std::move(block_)]() mutable {
        if (!sink->error.empty()) return 0;
        if (!sink->incoming) {
          auto incoming = queue->receive(sink->id);
          if (!incoming) {
            sink->error = incoming.error();
            return 0;
          }
          sink->incoming = std::move(*incoming);
        }
        if (auto w = sink->incoming->write(bytes); !w) sink->error = w.error();
        return 0;
      },
      [](SmtpSession& self, int) {
        self.writing_ = false;
        self.process_input();
      });
  block_.clear();
  if (!queued) {
    writing_ = false;
    sink_->error = "worker pool full";
  }
}

void SmtpSession::end_of_data() {
  busy_ = true;
  const auto discard = [this](int code, std::string_view enhanced, std::string_view text,
                              std::string_view reason) {
    ctx_.metrics.rejected(reason);
    core::log_info("smtp_reject").kv("sid", sid_).kv("reason", reason).kv("from", tx_.sender);
    auto doomed = std::move(sink_);
    if (doomed && doomed->incoming) ctx_.node.workers.submit([doomed] {});
    block_.clear();
    reset_transaction();
    reply(code, enhanced, text);
    finish_command();
  };
  if (too_big_) {
    discard(552, "5.3.4", "Error: message too big", "too_big");
    return;
  }
  if (header_scan_.received() > ctx_.config.max_received) {
    discard(554, "5.4.6",
            fmt::format("Error: too many hops ({} Received headers): mail loop?",
                        header_scan_.received()),
            "loop");
    return;
  }
  commit_message();
}

void SmtpSession::commit_message() {
  queue::Envelope envelope;
  envelope.sender = tx_.sender;
  envelope.recipients = tx_.recipients;
  envelope.ret = tx_.ret;
  envelope.envid = tx_.envid;
  envelope.eight_bit = tx_.eight_bit;
  envelope.smtputf8 = tx_.smtputf8;
  envelope.client_helo = helo_;
  envelope.client_address = client_text_;
  envelope.auth_user = auth_user_;
  auto sink = std::move(sink_);
  auto* queue = &ctx_.queue;
  const std::uint64_t size = data_bytes_;
  const bool queued = run_blocking(
      [sink, queue, bytes = std::move(block_),
       envelope = std::move(envelope)]() mutable -> tl::expected<std::string, std::string> {
        if (!sink->error.empty()) return tl::unexpected(sink->error);
        if (!sink->incoming) {
          auto incoming = queue->receive(sink->id);
          if (!incoming) return tl::unexpected(incoming.error());
          sink->incoming = std::move(*incoming);
        }
        if (auto w = sink->incoming->write(bytes); !w) return tl::unexpected(w.error());
        return queue->accept(std::move(sink->incoming), std::move(envelope));
      },
      [size](SmtpSession& self, tl::expected<std::string, std::string> id) {
        if (id) {
          ++self.messages_;
          self.ctx_.metrics.accepted(size);
          core::log_info("smtp_queued")
              .kv("sid", self.sid_)
              .kv("id", *id)
              .kv("from", self.tx_.sender)
              .kv("rcpts", self.tx_.recipients.size())
              .kv("size", size)
              .kv("user", self.auth_user_);
          self.reply(250, "2.0.0", fmt::format("Ok: queued as {}", *id));
        } else {
          self.ctx_.metrics.rejected("tempfail");
          core::log_warn("smtp_queue_failed").kv("sid", self.sid_).kv("error", id.error());
          self.reply(451, "4.3.0", "Error: queue file write error, try again later");
        }
        self.reset_transaction();
        self.finish_command();
      });
  block_.clear();
  if (!queued) {
    if (sink && sink->incoming) ctx_.node.workers.submit([sink] {});
    ctx_.metrics.rejected("tempfail");
    reset_transaction();
    reply(451, "4.3.2", "Server busy, try again later");
    finish_command();
  }
}

}  // namespace postern::node::smtp
