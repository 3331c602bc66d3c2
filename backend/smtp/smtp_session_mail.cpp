// The mail transaction: MAIL (sender rules, SPF), RCPT (acceptance rules,
// routing through the directory), DATA (into the queue, durable before 250).
#include <event2/buffer.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "backend/queue/queue_id.hpp"
#include "backend/smtp/received_header.hpp"
#include "backend/smtp/smtp_session.hpp"
#include "backend/smtp/spf.hpp"
#include "core/log.hpp"

namespace postern::node::smtp {

namespace {
using core::smtp::Command;
using core::smtp::Parameter;

// The most message bytes held in memory before they are written to the
// queue file (a 10 KB message is written once, with its commit).
constexpr std::size_t kBlock = 256 * 1024;
// Input looked at per round in the DATA phase.
constexpr std::size_t kDataFeed = 64 * 1024;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "Local@Example.COM" -> "Local@example.com": domains are case-insensitive;
// local parts are the domain's business (we compare them lower-cased only
// for the sender check).
std::string normalise_domain(const std::string& address) {
  const auto at = address.rfind('@');
  if (at == std::string::npos) return address;
  return address.substr(0, at + 1) + lower(address.substr(at + 1));
}

std::string domain_of(const std::string& address) {
  const auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}
}  // namespace

bool SmtpSession::sender_allowed(const std::string& address) const {
  const std::string a = lower(address);
  return std::find(auth_addresses_.begin(), auth_addresses_.end(), a) != auth_addresses_.end();
}

void SmtpSession::mail(const Command& c) {
  if (tx_.active) {
    reply_error({503, "5.5.1", "Error: nested MAIL command"});
    return;
  }
  if (submission_ && auth_user_.empty()) {
    ctx_.metrics.rejected("auth_required");
    reply_error({530, "5.7.0", "Authentication required"});
    return;
  }
  Transaction tx;
  for (const Parameter& p : c.parameters) {
    if (p.keyword == "SIZE") {
      tx.declared_size = std::strtoull(p.value->c_str(), nullptr, 10);
    } else if (p.keyword == "BODY") {
      tx.eight_bit = lower(*p.value) == "8bitmime";
    } else if (p.keyword == "SMTPUTF8") {
      tx.smtputf8 = true;
    } else if (p.keyword == "RET") {
      tx.ret = *p.value;
    } else if (p.keyword == "ENVID") {
      tx.envid = *p.value;
    }
  }
  if (tx.declared_size > ctx_.config.max_message_size) {
    ctx_.metrics.rejected("too_big");
    reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    return;
  }
  if (c.path.utf8 && !tx.smtputf8) {
    reply_error({553, "5.6.7", "Non-ASCII address requires the SMTPUTF8 parameter"});
    return;
  }
  tx.sender = c.path.null ? std::string() : normalise_domain(c.path.address());
  if (submission_ && !tx.sender.empty() && !sender_allowed(tx.sender)) {
    ctx_.metrics.rejected("sender_denied");
    core::log_info("smtp_reject")
        .kv("sid", sid_)
        .kv("reason", "sender_not_owned")
        .kv("user", auth_user_)
        .kv("from", tx.sender);
    reply_error({553, "5.7.1",
                 fmt::format("<{}>: Sender address rejected: not owned by user {}", tx.sender,
                             auth_user_)});
    return;
  }
  tx.active = true;
  tx_ = std::move(tx);
  // SPF: for mail from the Internet only; our users and networks are known.
  if (submission_ || !auth_user_.empty() || trusted_network() ||
      ctx_.config.spf == SpfPolicy::Ignore) {
    mail_accepted();
    return;
  }
  busy_ = true;
  SpfRequest request{client_ip_, tx_.sender, helo_, ctx_.config.hostname};
  std::weak_ptr<SmtpSession> weak = weak_from_this();
  check_spf(resolver_, request, [weak, request](SpfVerdict verdict) {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    self->busy_ = false;
    core::log_info("smtp_spf")
        .kv("sid", self->sid_)
        .kv("client", self->client_text_)
        .kv("domain", verdict.domain)
        .kv("result", spf_result_name(verdict.result))
        .kv("problem", verdict.problem);
    if (verdict.result == SpfResult::Fail && self->ctx_.config.spf == SpfPolicy::Reject) {
      self->ctx_.metrics.rejected("spf_fail");
      self->reset_transaction();
      self->reply(550, "5.7.23",
                  verdict.explanation.empty()
                      ? fmt::format("SPF check failed for {}", verdict.domain)
                      : verdict.explanation);
      self->finish_command();
      return;
    }
    self->tx_.spf_header = received_spf_header(request, verdict) + "\r\n";
    self->mail_accepted();
    self->finish_command();
  });
}

void SmtpSession::mail_accepted() {
  reply(250, "2.1.0", "Ok");
}

void SmtpSession::rcpt(const Command& c) {
  if (!tx_.active) {
    reply_error({503, "5.5.1", "Error: need MAIL command"});
    return;
  }
  if (tx_.recipients.size() >= ctx_.config.max_recipients) {
    ctx_.metrics.rejected("too_many_recipients");
    reply(452, "4.5.3", "Error: too many recipients");
    return;
  }
  if (c.path.utf8 && !tx_.smtputf8) {
    reply_error({553, "5.6.7", "Non-ASCII address requires SMTPUTF8"});
    return;
  }
  std::string address = c.path.postmaster ? "postmaster" : c.path.address();
  if (c.path.domain.empty()) address += "@" + ctx_.config.primary_domain;
  address = normalise_domain(address);
  queue::Recipient r;
  r.address = address;
  for (const Parameter& p : c.parameters) {
    if (p.keyword == "NOTIFY") r.notify = *p.value;
    if (p.keyword == "ORCPT") r.orcpt = *p.value;
  }
  const std::string domain = domain_of(address);
  if (!ctx_.config.local_domains.contains(domain)) {
    if (auth_user_.empty() && !trusted_network()) {
      ctx_.metrics.rejected("relay_denied");
      core::log_info("smtp_reject")
          .kv("sid", sid_)
          .kv("reason", "relay_denied")
          .kv("client", client_text_)
          .kv("to", address);
      reply_error({554, "5.7.1", fmt::format("<{}>: Relay access denied", address)});
      return;
    }
    r.route = queue::Route::Mx;
    tx_.recipients.push_back(std::move(r));
    reply(250, "2.1.5", "Ok");
    return;
  }
  busy_ = true;
  std::weak_ptr<SmtpSession> weak = weak_from_this();
  ctx_.node.directory.lookup(
      address, loop_, [weak, r = std::move(r)](mapping::LookupResult result) mutable {
        auto self = weak.lock();
        if (!self || self->closed_) return;
        self->busy_ = false;
        auto& ctx = self->ctx_;
        switch (result.status) {
          case mapping::LookupStatus::TempFail:
            ctx.metrics.rejected("tempfail");
            core::log_warn("smtp_rcpt_tempfail")
                .kv("sid", self->sid_)
                .kv("to", r.address)
                .kv("detail", result.detail);
            self->reply(451, "4.3.0",
                        fmt::format("<{}>: Temporary lookup failure, try again later", r.address));
            break;
          case mapping::LookupStatus::NotFound:
            ctx.metrics.rejected("unknown_user");
            self->reply_error(
                {550, "5.1.1",
                 fmt::format("<{}>: Recipient address rejected: User unknown", r.address)});
            break;
          case mapping::LookupStatus::Found: {
            const mapping::Account& account = result.account;
            if (account.state == mapping::AccountState::Disabled) {
              ctx.metrics.rejected("unknown_user");
              self->reply_error({550, "5.2.1", fmt::format("<{}>: Mailbox disabled", r.address)});
              break;
            }
            r.address = account.address;
            if (account.node == ctx.node.config.name) {
              r.route = queue::Route::Local;
            } else if (ctx.node.config.cluster_smtp.contains(account.node)) {
              r.route = queue::Route::Node;
              r.node = account.node;
            } else {
              core::log_warn("smtp_rcpt_no_route")
                  .kv("sid", self->sid_)
                  .kv("to", r.address)
                  .kv("node", account.node);
              self->reply(451, "4.4.0",
                          fmt::format("<{}>: Cannot route to node {}", r.address, account.node));
              break;
            }
            auto& list = self->tx_.recipients;
            const bool duplicate =
                std::any_of(list.begin(), list.end(),
                            [&](const queue::Recipient& x) { return x.address == r.address; });
            if (!duplicate) list.push_back(std::move(r));
            self->reply(250, "2.1.5", "Ok");
            break;
          }
        }
        self->finish_command();
      });
}

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
