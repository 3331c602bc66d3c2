// What the queue knows about one message besides its bytes: the SMTP
// envelope, each recipient's route and state, and the retry bookkeeping.
// Stored next to the message as JSON (envelope_codec), rewritten after each
// attempt.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace postern::node::queue {

// Where a recipient goes, decided by the SMTP server at RCPT time from the
// directory: this node's store, another node of the cluster (its SMTP
// listener, DESIGN.md section 6), or the Internet by MX.
enum class Route { Local, Node, Mx };

enum class RecipientState { Pending, Delivered, Failed };

struct Recipient {
  std::string address;  // canonical for Local/Node; as sent for Mx
  Route route = Route::Mx;
  std::string node;     // Route::Node: the node's name (NodeConfig cluster key)
  std::string mailbox;  // Route::Local: folder; "" = INBOX
  // RFC 3461, as sent: NOTIFY ("" = default, i.e. FAILURE,DELAY), ORCPT (xtext).
  std::string notify;
  std::string orcpt;
  RecipientState state = RecipientState::Pending;
  std::string last_reply;  // "451 4.4.1 connection refused by ..." for DSNs and logs
  std::string remote_mta;  // the host that answered last_reply, if remote
};

struct Envelope {
  std::string sender;  // reverse-path address; "" = null sender (never bounced to)
  std::vector<Recipient> recipients;
  // RFC 3461 MAIL parameters, as sent.
  std::string ret;         // "FULL" | "HDRS" | ""
  std::string envid;       // xtext
  bool eight_bit = false;  // BODY=8BITMIME
  bool smtputf8 = false;
  // Where it came from, for logs and the DSN: "helo [ip]", the AUTH login.
  std::string client_helo;
  std::string client_address;
  std::string auth_user;
  // A DSN this node generated: it is never bounced (no bounce of a bounce).
  bool is_bounce = false;
  // Bookkeeping, owned by the queue.
  std::int64_t arrival = 0;       // unix seconds
  std::int64_t next_attempt = 0;  // unix seconds
  std::uint32_t attempts = 0;
};

}  // namespace postern::node::queue
