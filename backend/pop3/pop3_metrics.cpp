#include "backend/pop3/pop3_context.hpp"

namespace postern::node::pop3 {

Pop3Metrics::Pop3Metrics(core::MetricsRegistry& registry)
    : registry_(registry),
      connections_(registry.counter("postern_connections_total", "Connections accepted by service",
                                    {{"service", "pop3"}})),
      retr_bytes_(
          registry.counter("postern_pop3_retrieved_bytes_total", "Message octets sent by RETR")),
      sessions_(
          registry.gauge("postern_sessions", "Open sessions by service", {{"service", "pop3"}})) {
  auto add = [&](std::string_view name) {
    commands_[name] = &registry.counter("postern_pop3_commands_total", "POP3 commands received",
                                        {{"command", std::string(name)}});
  };
  for (const CommandSpec& spec : command_table()) add(spec.name);
  add("unknown");
}

void Pop3Metrics::command(std::string_view name) {
  // Only the table's names become label values: a client cannot create series.
  auto it = commands_.find(name);
  (it != commands_.end() ? it->second : commands_.at("unknown"))->inc();
}

void Pop3Metrics::login(std::string_view result) {
  registry_
      .counter("postern_logins_total", "Logins by service and result",
               {{"service", "pop3"}, {"result", std::string(result)}})
      .inc();
}

}  // namespace postern::node::pop3
