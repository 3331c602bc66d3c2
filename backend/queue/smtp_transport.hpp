// Outgoing SMTP for the queue (RemoteTransport): a recipient on another node
// goes to that node's SMTP listener; any other domain to its MX hosts
// (mx_route.hpp). Opportunistic STARTTLS, connections kept idle for reuse
// per destination (node name or domain), at most `max_per_destination`
// connections (busy + idle) per destination with a FIFO of deliveries
// waiting for one.
//
// Threading: construct, use and destroy on `loop`. Destroying it with
// deliveries in flight drops their `done` callbacks (the node is stopping)
// and closes every connection.
#pragma once

#include <memory>

#include "backend/queue/mx_route.hpp"
#include "backend/queue/queue_config.hpp"
#include "backend/queue/remote_transport.hpp"
#include "core/dns_resolver.hpp"
#include "core/event_loop.hpp"
#include "core/metrics.hpp"
#include "core/tls.hpp"
#include "core/worker_pool.hpp"

namespace postern::node::queue {

class SmtpTransport final : public RemoteTransport {
 public:
  // `resolver`, `workers` and `metrics` outlive the transport. `client_tls`
  // null: never STARTTLS (else see opportunistic_tls()).
  SmtpTransport(core::EventLoop& loop, core::DnsResolver& resolver, core::WorkerPool& workers,
                std::shared_ptr<core::TlsContext> client_tls, SmtpClientConfig config,
                core::MetricsRegistry& metrics)
      : SmtpTransport(loop, make_dns_mx_lookup(resolver), workers, std::move(client_tls),
                      std::move(config), metrics) {}
  // The same with any MX lookup (tests use a fake).
  SmtpTransport(core::EventLoop& loop, std::shared_ptr<MxLookup> lookup, core::WorkerPool& workers,
                std::shared_ptr<core::TlsContext> client_tls, SmtpClientConfig config,
                core::MetricsRegistry& metrics);
  SmtpTransport(const SmtpTransport&) = delete;
  SmtpTransport& operator=(const SmtpTransport&) = delete;
  ~SmtpTransport() override;

  void deliver(RemoteDelivery delivery,
               std::function<void(std::vector<RecipientOutcome>)> done) override;
  // Sends QUIT on idle connections and keeps none from now on.
  void shutdown() override;

  // The client context for opportunistic STARTTLS: TLS 1.2 or later, no
  // certificate verification (RFC 7435: better than plaintext; an MX's
  // certificate is rarely verifiable without DANE/MTA-STS).
  static std::shared_ptr<core::TlsContext> opportunistic_tls();

  class Core;

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace postern::node::queue
