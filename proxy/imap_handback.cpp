#include "proxy/imap_handback.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace postern::proxy {

ImapHandback::ImapHandback(std::string token, Released released)
    // The token is already a secret of this session that the client never
    // sees: half of it makes a tag as unguessable, for one call less to the
    // random generator per login.
    : token_(std::move(token)),
      tag_("R" + token_.substr(0, std::min<std::size_t>(token_.size(), 24))),
      answer_(tag_),
      released_(std::move(released)) {}

Handback::ClientScan ImapHandback::scan_client(std::string_view data) {
  ImapCommandScanner::Result r = scanner_.scan(data);
  ClientScan out;
  out.pass = r.pass;
  out.end = r.logout;
  out.end_len = r.logout_len;
  if (r.logout) {
    client_tag_ = std::move(r.tag);
    // Nothing owed, and nothing the node could still be reading as data:
    // no literal was announced (however the node framed it) and the node
    // never asked for data. A node that waits for data would take the next
    // user's login for it.
    out.settled = !scanner_.lost() && !scanner_.saw_brace() && !counter_.lost() &&
                  !counter_.asked_for_data() && counter_.at_response_start() &&
                  counter_.tagged() == scanner_.commands();
  }
  return out;
}

std::string ImapHandback::release_command() {
  return fmt::format("{} UNAUTHENTICATE {}\r\n", tag_, token_);
}

Handback::NodeScan ImapHandback::scan_node(std::string_view data) {
  ImapAnswerScanner::Result r = answer_.scan(data);
  NodeScan out;
  out.pass = r.pass;
  out.done = r.done;
  out.answer_len = r.answer_len;
  out.clean = r.ok && r.last;
  return out;
}

std::string ImapHandback::farewell() {
  return fmt::format("* BYE Logging out.\r\n{} OK Logout completed.\r\n", client_tag_);
}

void ImapHandback::released(std::unique_ptr<core::Connection> node, std::string pending) {
  if (released_) released_(std::move(node), std::move(pending));
}

}  // namespace postern::proxy
