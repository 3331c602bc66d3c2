// Where each recipient of a message sent from WebMail goes (queue::Route), as
// the SMTP server decides at RCPT time (backend/smtp/smtp_session_mail.cpp):
// an address in one of smtp.local_domains is looked up in the directory and
// goes to this node's store (Route::Local) or to its node's SMTP listener
// (Route::Node, NodeConfig::cluster_smtp); any other domain goes out by MX.
// A WebMail user is authenticated, so any domain may be relayed to.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backend/node/node_service.hpp"
#include "backend/queue/envelope.hpp"
#include "core/event_loop.hpp"

namespace postern::node::webmail {

struct RoutedRecipients {
  enum class Status {
    Ok,
    Unknown,   // a local address the directory does not know (or disabled)
    TempFail,  // the directory did not answer, or the account's node is not in the cluster
  } status = Status::Ok;
  std::vector<queue::Recipient> recipients;  // Ok: in the given order, without duplicates
  std::string address;                       // otherwise: the first that failed
  std::string detail;                        // for the log
};

// Looks every address up at once; `done` runs once, on `reply`, never inline.
void route_recipients(NodeContext& node, const std::vector<std::string>& addresses,
                      core::Executor& reply, std::function<void(RoutedRecipients)> done);

}  // namespace postern::node::webmail
