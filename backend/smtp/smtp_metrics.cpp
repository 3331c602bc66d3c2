#include "backend/smtp/smtp_context.hpp"
#include "core/smtp_command.hpp"

namespace postern::node::smtp {

namespace {
// The reasons a recipient or a message is refused: label values, so a fixed set.
constexpr std::string_view kRejectReasons[] = {
    "unknown_user", "relay_denied", "sender_denied", "auth_required",       "spf_fail",
    "too_big",      "loop",         "tempfail",      "too_many_recipients",
};
}  // namespace

SmtpMetrics::SmtpMetrics(core::MetricsRegistry& registry)
    : registry_(registry),
      connections_(registry.counter("postern_connections_total", "Connections accepted by service",
                                    {{"service", "smtp"}})),
      accepted_(
          registry.counter("postern_smtp_messages_total", "Messages accepted and queued durably")),
      accepted_bytes_(
          registry.counter("postern_smtp_message_bytes_total", "Octets of accepted messages")),
      sessions_(
          registry.gauge("postern_sessions", "Open sessions by service", {{"service", "smtp"}})) {
  using core::smtp::Verb;
  for (Verb v : {Verb::Helo, Verb::Ehlo, Verb::Mail, Verb::Rcpt, Verb::Data, Verb::Rset, Verb::Noop,
                 Verb::Quit, Verb::Vrfy, Verb::Expn, Verb::Help, Verb::Starttls, Verb::Auth,
                 Verb::Bdat, Verb::Xclient}) {
    const std::string_view name = core::smtp::verb_name(v);
    commands_[name] = &registry.counter("postern_smtp_commands_total", "SMTP commands received",
                                        {{"command", std::string(name)}});
  }
  commands_["unknown"] = &registry.counter("postern_smtp_commands_total", "SMTP commands received",
                                           {{"command", "unknown"}});
  for (std::string_view reason : kRejectReasons) {
    rejects_[reason] = &registry.counter("postern_smtp_rejects_total",
                                         "Recipients and messages refused, by reason",
                                         {{"reason", std::string(reason)}});
  }
}

void SmtpMetrics::command(std::string_view verb) {
  auto it = commands_.find(verb);
  (it != commands_.end() ? it->second : commands_.at("unknown"))->inc();
}

void SmtpMetrics::rejected(std::string_view reason) {
  auto it = rejects_.find(reason);
  if (it != rejects_.end()) it->second->inc();
}

void SmtpMetrics::login(std::string_view result) {
  registry_
      .counter("postern_logins_total", "Logins by service and result",
               {{"service", "smtp"}, {"result", std::string(result)}})
      .inc();
}

}  // namespace postern::node::smtp
