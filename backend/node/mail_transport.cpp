#include "backend/node/mail_transport.hpp"

#include "backend/queue/smtp_transport.hpp"
#include "core/dns_resolver.hpp"
#include "core/tls.hpp"

namespace postern::node {

namespace {

class MailTransport final : public queue::RemoteTransport {
 public:
  MailTransport(core::EventLoop& loop, const NodeConfig& config, core::WorkerPool& workers,
                std::shared_ptr<core::TlsContext> tls, core::MetricsRegistry& metrics)
      : resolver_(loop, config.dns),
        transport_(loop, resolver_, workers, std::move(tls), config.smtp_client, metrics) {}

  void deliver(queue::RemoteDelivery delivery,
               std::function<void(std::vector<queue::RecipientOutcome>)> done) override {
    transport_.deliver(std::move(delivery), std::move(done));
  }
  void shutdown() override { transport_.shutdown(); }

 private:
  core::DnsResolver resolver_;  // declared first: the transport uses it until it goes
  queue::SmtpTransport transport_;
};

}  // namespace

std::unique_ptr<queue::RemoteTransport> make_mail_transport(core::EventLoop& loop,
                                                            const NodeConfig& config,
                                                            core::WorkerPool& workers,
                                                            core::MetricsRegistry& metrics) {
  std::shared_ptr<core::TlsContext> tls;
  if (config.smtp_client.starttls) {
    core::TlsConfig t;
    t.verify_peer = false;  // opportunistic
    tls = core::TlsContext::client(t, config.file, "smtp_client");
  }
  return std::make_unique<MailTransport>(loop, config, workers, std::move(tls), metrics);
}

}  // namespace postern::node
