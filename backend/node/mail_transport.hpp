// The queue's RemoteTransport as the node builds it: outgoing SMTP
// (queue::SmtpTransport) with a DNS resolver of its own, both on the queue's
// loop, TLS opportunistic (no certificate check: RFC 3207 4.1 and RFC 7435,
// since MX hosts are not authenticated by anything we could check).
#pragma once
#include <memory>

#include "backend/node/node_config.hpp"
#include "backend/queue/remote_transport.hpp"
#include "core/event_loop.hpp"
#include "core/metrics.hpp"
#include "core/worker_pool.hpp"

namespace postern::node {

// Builds the transport for the queue's loop `loop`. Throws core::ConfigError
// when the client TLS context cannot be made.
std::unique_ptr<queue::RemoteTransport> make_mail_transport(core::EventLoop& loop,
                                                            const NodeConfig& config,
                                                            core::WorkerPool& workers,
                                                            core::MetricsRegistry& metrics);

}  // namespace postern::node
