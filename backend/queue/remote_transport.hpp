// Delivery to another SMTP server: another node of the cluster (relay) or a
// domain's MX hosts. The queue hands it one message and the recipients that
// share a destination; SmtpTransport (smtp_transport.hpp) implements it.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backend/queue/envelope.hpp"
#include "core/net_address.hpp"

namespace postern::node::queue {

struct RemoteDelivery {
  std::string queue_id;  // for logs
  std::string sender;    // "" = null sender
  // Recipients sharing one destination, each with its DSN parameters.
  std::vector<Recipient> recipients;
  // Route::Node: `relay` is the node's SMTP endpoint. Route::Mx: `domain` is
  // resolved by MX (then A/AAAA, implicit MX).
  Route route = Route::Mx;
  std::string domain;
  std::optional<core::Endpoint> relay;
  // The message file: complete, CRLF, durable; read-only for the transport.
  std::string message_path;
  std::uint64_t size = 0;
  bool eight_bit = false;
  bool smtputf8 = false;
  std::string ret, envid;
};

struct RecipientOutcome {
  enum class Status { Delivered, TempFail, PermFail };
  Status status = Status::TempFail;
  // The reply to quote in logs and a DSN: the server's own ("550 5.1.1 No such
  // user") or ours ("451 4.4.1 connection refused by 192.0.2.1:25").
  std::string reply;
  std::string remote_mta;  // "mx.example.org [192.0.2.1]" when a server answered
};

class RemoteTransport {
 public:
  virtual ~RemoteTransport() = default;
  // Runs on the queue's loop; `done` runs on that loop, exactly once, never
  // inline, with one outcome per recipient in order. Never blocks the loop.
  virtual void deliver(RemoteDelivery delivery,
                       std::function<void(std::vector<RecipientOutcome>)> done) = 0;
  // Drops idle cached connections (the node is draining).
  virtual void shutdown() {}
};

}  // namespace postern::node::queue
