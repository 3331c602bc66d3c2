// The mail transaction's envelope: MAIL (sender rules, SPF) and RCPT
// (acceptance rules, routing through the directory). DATA is in
// smtp_session_data.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "backend/mime/text.hpp"
#include "backend/smtp/smtp_session.hpp"
#include "backend/smtp/spf.hpp"
#include "core/log.hpp"

namespace postern::node::smtp {

namespace {
using core::smtp::Command;
using core::smtp::Parameter;

// "Local@Example.COM" -> "Local@example.com": domains are case-insensitive;
// local parts are the domain's business (we compare them lower-cased only
// for the sender check).
std::string normalise_domain(const std::string& address) {
  const auto at = address.rfind('@');
  if (at == std::string::npos) return address;
  return address.substr(0, at + 1) + mime::ascii_lower(address.substr(at + 1));
}

std::string domain_of(const std::string& address) {
  const auto at = address.rfind('@');
  return at == std::string::npos ? std::string() : address.substr(at + 1);
}
}  // namespace

bool SmtpSession::sender_allowed(const std::string& address) const {
  const std::string a = mime::ascii_lower(address);
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
      tx.eight_bit = mime::ascii_lower(*p.value) == "8bitmime";
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
  spf_pending_ = SpfRequest{client_ip_, tx_.sender, helo_, ctx_.config.hostname};
  const std::uint64_t generation = ++spf_generation_;
  // RFC 7208 4.6.4: a check that takes too long is a temperror.
  spf_deadline_.arm(ctx_.config.spf_timeout);
  std::weak_ptr<SmtpSession> weak = weak_from_this();
  check_spf(resolver_, *spf_pending_, [weak, generation](SpfVerdict verdict) {
    auto self = weak.lock();
    if (!self || self->closed_ || generation != self->spf_generation_) return;
    self->on_spf(std::move(verdict));
  });
}

void SmtpSession::on_spf(SpfVerdict verdict) {
  ++spf_generation_;  // a late answer (after the deadline) is ignored
  spf_deadline_.cancel();
  const SpfRequest request = std::move(*spf_pending_);
  spf_pending_.reset();
  busy_ = false;
  core::log_info("smtp_spf")
      .kv("sid", sid_)
      .kv("client", client_text_)
      .kv("domain", verdict.domain)
      .kv("result", spf_result_name(verdict.result))
      .kv("problem", verdict.problem);
  if (verdict.result == SpfResult::Fail && ctx_.config.spf == SpfPolicy::Reject) {
    ctx_.metrics.rejected("spf_fail");
    reset_transaction();
    reply(550, "5.7.23",
          verdict.explanation.empty() ? fmt::format("SPF check failed for {}", verdict.domain)
                                      : verdict.explanation);
    finish_command();
    return;
  }
  tx_.spf_header = received_spf_header(request, verdict) + "\r\n";
  mail_accepted();
  finish_command();
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

}  // namespace postern::node::smtp
