// Delivery status notifications (RFC 3464 multipart/report, RFC 3461 DSN
// parameters, RFC 3463 status codes, RFC 3834 Auto-Submitted): what the
// queue sends back to a message's sender when recipients failed (or, when
// asked with NOTIFY=SUCCESS, were delivered here). Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backend/queue/envelope.hpp"

namespace postern::node::queue {

enum class DsnAction { Failed, Delivered };

// Whether the recipient's NOTIFY parameter asks for a DSN of this kind:
// NOTIFY absent means FAILURE (and DELAY), NEVER means none (RFC 3461 4.1).
bool wants_dsn(const Recipient& recipient, DsnAction action);

// The RFC 3463 status a DSN reports for `reply` ("550 5.1.1 ..." -> "5.1.1";
// without an enhanced code, from the basic code: 5.0.0 / 4.0.0). A recipient
// that failed for good after temporary errors (the lifetime ran out) gets a
// 5.x.x: "4.4.1" becomes "5.4.1", RFC 3464 2.3.3 wants a permanent status
// with Action: failed.
std::string dsn_status(std::string_view reply, DsnAction action);

struct DsnReport {
  std::string reporting_mta;  // this node's host name
  std::string postmaster;     // From: address
  std::string queue_id;       // of the original message
  Envelope envelope;          // of the original message (sender, envid, arrival)
  struct Entry {
    Recipient recipient;  // address, orcpt, last_reply, remote_mta
    DsnAction action = DsnAction::Failed;
  };
  std::vector<Entry> entries;
  // The original message, whole (message/rfc822) or only its header
  // (text/rfc822-headers).
  std::string original;
  bool headers_only = false;
  std::int64_t now = 0;  // unix seconds: Date, Last-Attempt-Date
  std::string boundary;  // unique text for the multipart boundary
};

// The whole DSN message, CRLF line ends, ready for Queue::receive().
std::string compose_dsn(const DsnReport& report);

// The header of a message (up to and including the blank line), for RET=HDRS.
std::string_view message_header(std::string_view message);

// RFC 5322 date-time in UTC ("Sat, 21 Nov 2026 18:57:03 +0000").
std::string rfc5322_date(std::int64_t unix_seconds);

}  // namespace postern::node::queue
