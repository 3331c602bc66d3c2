// One delivery to one destination: find the hosts (the node's relay
// endpoint, or the domain's MX route), then the first that greets us runs
// the transaction. Per host: STARTTLS when offered; a failed handshake is
// retried once on a new plaintext connection (opportunistic TLS). A
// connection failure or a refused greeting moves on to the next address.
//
// Owned by SmtpTransport (shared_ptr); `done` runs once, from a posted task,
// and not at all once the attempt is destroyed.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/queue/mx_route.hpp"
#include "backend/queue/remote_transport.hpp"
#include "backend/queue/smtp_client_session.hpp"

namespace postern::node::queue {

struct SmtpAttemptEnv {
  core::EventLoop* loop = nullptr;
  core::WorkerPool* workers = nullptr;
  std::shared_ptr<MxLookup> lookup;
  SmtpSessionSettings settings;  // settings.tls null: no STARTTLS
  std::uint16_t mx_port = 25;
};

struct SmtpAttemptResult {
  std::vector<RecipientOutcome> outcomes;       // one per recipient, in order
  std::shared_ptr<SmtpClientSession> reusable;  // idle afterwards, or null
  std::size_t opened = 0;                       // new connections tried
  bool reused = false;                          // the given idle one served
};

class SmtpDeliveryAttempt : public std::enable_shared_from_this<SmtpDeliveryAttempt> {
 public:
  // At most this many addresses of a domain's MX hosts are tried per attempt.
  static constexpr std::size_t kMaxAddresses = 10;

  SmtpDeliveryAttempt(SmtpAttemptEnv env, RemoteDelivery delivery,
                      std::shared_ptr<SmtpClientSession> reuse,
                      std::function<void(SmtpAttemptResult)> done);
  void start();

 private:
  void fresh();
  void on_route(MxRoute route);
  void try_candidate(std::size_t i, bool tls);
  void on_open(std::size_t i, bool tls, SmtpOpenResult result);
  void run();
  void on_transaction(SmtpTransactionResult result);
  void finish_all(const RecipientOutcome& outcome);
  void finish(SmtpAttemptResult result);

  SmtpAttemptEnv env_;
  RemoteDelivery delivery_;
  std::shared_ptr<SmtpClientSession> current_;
  std::function<void(SmtpAttemptResult)> done_;
  std::vector<MxCandidate> candidates_;
  std::uint16_t port_ = 25;
  std::size_t opened_ = 0;
  bool reused_ = false;
  // The failures so far: all permanent (5xx from every server) or not.
  bool all_permanent_ = true;
  RecipientOutcome last_failure_;
};

}  // namespace postern::node::queue
