#include "backend/webmail/recipient_routes.hpp"

#include <memory>
#include <optional>

namespace postern::node::webmail {

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The address with its domain lower-cased (the local part is the mailbox's).
std::string normalised(const std::string& address) {
  const auto at = address.rfind('@');
  if (at == std::string::npos) return address;
  return address.substr(0, at + 1) + lower(address.substr(at + 1));
}

// The lookups of one message; the last answer finishes it (on `reply`).
struct Routing {
  struct Failure {
    RoutedRecipients::Status status;
    std::string detail;
  };
  std::vector<queue::Recipient> recipients;
  std::vector<std::optional<Failure>> failures;  // per recipient
  std::size_t pending = 0;
  std::function<void(RoutedRecipients)> done;

  void finish() {
    RoutedRecipients out;
    // The first failure in the given order is the one reported, as a client
    // reading RCPT replies would meet it.
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      if (!failures[i]) continue;
      out.status = failures[i]->status;
      out.address = recipients[i].address;
      out.detail = failures[i]->detail;
      return done(std::move(out));
    }
    for (auto& r : recipients) {
      bool duplicate = false;
      for (const auto& kept : out.recipients) duplicate = duplicate || kept.address == r.address;
      if (!duplicate) out.recipients.push_back(std::move(r));
    }
    done(std::move(out));
  }
};

}  // namespace

void route_recipients(NodeContext& node, const std::vector<std::string>& addresses,
                      core::Executor& reply, std::function<void(RoutedRecipients)> done) {
  auto routing = std::make_shared<Routing>();
  routing->done = std::move(done);
  routing->failures.resize(addresses.size());
  std::vector<std::size_t> lookups;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    queue::Recipient r;
    r.address = normalised(addresses[i]);
    const auto at = r.address.rfind('@');
    const std::string domain = at == std::string::npos ? "" : r.address.substr(at + 1);
    r.route = queue::Route::Mx;
    routing->recipients.push_back(std::move(r));
    if (node.config.smtp.local_domains.contains(domain)) lookups.push_back(i);
  }
  routing->pending = lookups.size();
  if (lookups.empty()) {
    reply.post([routing] { routing->finish(); });
    return;
  }
  for (std::size_t i : lookups) {
    node.directory.lookup(
        routing->recipients[i].address, reply, [routing, i, &node](mapping::LookupResult result) {
          auto& r = routing->recipients[i];
          using Status = RoutedRecipients::Status;
          switch (result.status) {
            case mapping::LookupStatus::TempFail:
              routing->failures[i] = Routing::Failure{Status::TempFail, result.detail};
              break;
            case mapping::LookupStatus::NotFound:
              routing->failures[i] = Routing::Failure{Status::Unknown, "unknown user"};
              break;
            case mapping::LookupStatus::Found:
              if (result.account.state == mapping::AccountState::Disabled) {
                routing->failures[i] = Routing::Failure{Status::Unknown, "mailbox disabled"};
                break;
              }
              r.address = result.account.address;
              if (result.account.node == node.config.name) {
                r.route = queue::Route::Local;
              } else if (node.config.cluster_smtp.contains(result.account.node)) {
                r.route = queue::Route::Node;
                r.node = result.account.node;
              } else {
                routing->failures[i] =
                    Routing::Failure{Status::TempFail, "no route to node " + result.account.node};
              }
              break;
          }
          if (--routing->pending == 0) routing->finish();
        });
  }
}

}  // namespace postern::node::webmail
