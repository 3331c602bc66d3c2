#include "backend/queue/smtp_delivery_attempt.hpp"

#include <fmt/format.h>

namespace postern::node::queue {

using Status = RecipientOutcome::Status;

SmtpDeliveryAttempt::SmtpDeliveryAttempt(SmtpAttemptEnv env, RemoteDelivery delivery,
                                         std::shared_ptr<SmtpClientSession> reuse,
                                         std::function<void(SmtpAttemptResult)> done)
    : env_(std::move(env)),
      delivery_(std::move(delivery)),
      current_(std::move(reuse)),
      done_(std::move(done)) {}

void SmtpDeliveryAttempt::start() {
  if (current_ != nullptr) {
    reused_ = true;
    return run();
  }
  fresh();
}

void SmtpDeliveryAttempt::fresh() {
  current_.reset();
  reused_ = false;
  std::weak_ptr<SmtpDeliveryAttempt> weak = weak_from_this();
  auto got = [weak](MxRoute route) {
    if (auto self = weak.lock()) self->on_route(std::move(route));
  };
  if (delivery_.route != Route::Node) {
    port_ = env_.mx_port;
    resolve_mx_route(*env_.loop, env_.lookup, delivery_.domain, kMaxAddresses, std::move(got));
    return;
  }
  // A node of the cluster: its SMTP listener, no MX.
  const core::Endpoint& relay = *delivery_.relay;
  port_ = relay.port;
  std::string name =
      delivery_.recipients.front().node.empty() ? relay.host : delivery_.recipients.front().node;
  if (auto ip = core::IpAddress::parse(relay.host)) {
    MxRoute route;
    route.ok = true;
    route.candidates.push_back({name, *ip});
    env_.loop->post([got, route = std::move(route)]() mutable { got(std::move(route)); });
    return;
  }
  env_.lookup->addresses(
      relay.host, [got, name, host = relay.host](core::DnsAnswer<core::IpAddress> answer) {
        MxRoute route;
        for (const auto& ip : answer.records) route.candidates.push_back({name, ip});
        route.ok = answer.status == core::DnsStatus::Ok && !route.candidates.empty();
        if (!route.ok) {
          route.failure.status = Status::TempFail;
          route.failure.reply = fmt::format("451 4.4.3 cannot resolve the relay host {}: {}", host,
                                            answer.detail.empty() ? "no address" : answer.detail);
        }
        got(std::move(route));
      });
}

void SmtpDeliveryAttempt::on_route(MxRoute route) {
  if (!route.ok) return finish_all(route.failure);
  candidates_ = std::move(route.candidates);
  try_candidate(0, env_.settings.tls != nullptr);
}

void SmtpDeliveryAttempt::try_candidate(std::size_t i, bool tls) {
  if (i >= candidates_.size()) {
    // Every address failed: temporary unless every server refused us with
    // a 5xx (RFC 5321 3.1: 554 greeting, no service).
    RecipientOutcome outcome = last_failure_;
    outcome.status = all_permanent_ ? Status::PermFail : Status::TempFail;
    return finish_all(outcome);
  }
  const MxCandidate& c = candidates_[i];
  SmtpTarget target{c.host, c.ip, port_, delivery_.route == Route::Mx};
  current_ = SmtpClientSession::create(*env_.loop, *env_.workers, env_.settings, target);
  ++opened_;
  std::weak_ptr<SmtpDeliveryAttempt> weak = weak_from_this();
  current_->open(tls, [weak, i, tls](SmtpOpenResult result) {
    if (auto self = weak.lock()) self->on_open(i, tls, std::move(result));
  });
}

void SmtpDeliveryAttempt::on_open(std::size_t i, bool tls, SmtpOpenResult result) {
  if (result.ok) return run();
  last_failure_.reply = result.reply;
  last_failure_.remote_mta = result.answered ? current_->remote_mta() : "";
  if (result.tls_failed && tls) {
    // Opportunistic: a server whose TLS we cannot speak still gets the mail,
    // in plaintext, once.
    return try_candidate(i, false);
  }
  if (!(result.answered && result.permanent)) all_permanent_ = false;
  try_candidate(i + 1, env_.settings.tls != nullptr);
}

void SmtpDeliveryAttempt::run() {
  std::weak_ptr<SmtpDeliveryAttempt> weak = weak_from_this();
  current_->transact(delivery_, [weak](SmtpTransactionResult result) {
    if (auto self = weak.lock()) self->on_transaction(std::move(result));
  });
}

void SmtpDeliveryAttempt::on_transaction(SmtpTransactionResult result) {
  if (result.stale) return fresh();  // the reused connection had died: a new one
  SmtpAttemptResult out;
  out.outcomes = std::move(result.outcomes);
  if (current_->idle()) out.reusable = current_;
  finish(std::move(out));
}

void SmtpDeliveryAttempt::finish_all(const RecipientOutcome& outcome) {
  SmtpAttemptResult out;
  for (std::size_t i = 0; i < delivery_.recipients.size(); ++i) out.outcomes.push_back(outcome);
  finish(std::move(out));
}

void SmtpDeliveryAttempt::finish(SmtpAttemptResult result) {
  result.opened = opened_;
  result.reused = reused_;
  current_.reset();
  if (!done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace postern::node::queue
