#include "backend/queue/dsn.hpp"

#include <doctest/doctest.h>

#include <string>

#include "backend/mime/message_parser.hpp"

using namespace postern::node;
using namespace postern::node::queue;

namespace {

const std::string kOriginal =
    "From: sender@example.org\r\nTo: x@outside.test\r\nSubject: hello\r\n\r\nbody line\r\n";

DsnReport report() {
  DsnReport r;
  r.reporting_mta = "node1.example.com";
  r.postmaster = "postmaster@example.com";
  r.queue_id = "0691F5A1C00012ABCD";
  r.envelope.sender = "sender@example.org";
  r.envelope.envid = "QQ+2B1";
  r.envelope.arrival = 1763750000;
  Recipient failed;
  failed.address = "x@outside.test";
  failed.orcpt = "rfc822;X+40outside.test";
  failed.last_reply = "550 5.1.1 <x@outside.test>: no such user";
  failed.remote_mta = "mx.outside.test [192.0.2.1]";
  Recipient expired;
  expired.address = "y@slow.test";
  expired.last_reply = "451 4.4.1 connection refused by 192.0.2.2:25";
  r.entries = {{failed, DsnAction::Failed}, {expired, DsnAction::Failed}};
  r.original = kOriginal;
  r.now = 1763760000;
  r.boundary = "0691F5A1C00012ABCD/node1.example.com";
  return r;
}

std::string_view part_text(const std::string& message, const mime::MessagePart& part) {
  return std::string_view(message).substr(part.body_offset, part.end_offset - part.body_offset);
}

}  // namespace

TEST_CASE("DSN: a multipart/report that parses back into its three parts") {
  std::string dsn = compose_dsn(report());
  mime::MessageParser parser;
  parser.feed(dsn);
  mime::MessagePart root = parser.finish();
  CHECK(root.type == "multipart");
  CHECK(root.subtype == "report");
  REQUIRE(root.param("report-type") != nullptr);
  CHECK(*root.param("report-type") == "delivery-status");
  REQUIRE(root.children.size() == 3);
  CHECK(root.children[0].type == "text");
  CHECK(root.children[1].type == "message");
  CHECK(root.children[1].subtype == "delivery-status");
  CHECK(root.children[2].is_message_rfc822());

  // Header of the DSN itself: to the sender, from the postmaster, auto-replied.
  CHECK(dsn.find("To: <sender@example.org>\r\n") != std::string::npos);
  CHECK(dsn.find("From: Mail Delivery System <postmaster@example.com>\r\n") != std::string::npos);
  CHECK(dsn.find("Auto-Submitted: auto-replied\r\n") != std::string::npos);
  CHECK(root.envelope.subject == std::optional<std::string>("Undelivered Mail Returned to Sender"));

  auto status = part_text(dsn, root.children[1]);
  CHECK(status.find("Reporting-MTA: dns; node1.example.com\r\n") != std::string_view::npos);
  CHECK(status.find("Original-Envelope-Id: QQ+1\r\n") != std::string_view::npos);
  CHECK(status.find("Arrival-Date: Fri, 21 Nov 2025") != std::string_view::npos);
  CHECK(status.find("Original-Recipient: rfc822;X@outside.test\r\n") != std::string_view::npos);
  CHECK(status.find("Final-Recipient: rfc822; x@outside.test\r\nAction: failed\r\nStatus: "
                    "5.1.1\r\nRemote-MTA: dns; mx.outside.test [192.0.2.1]\r\nDiagnostic-Code: "
                    "smtp; 550 5.1.1 <x@outside.test>: no such user\r\n") !=
        std::string_view::npos);
  // A temporary failure that ran out of time is reported as a permanent one.
  CHECK(
      status.find("Final-Recipient: rfc822; y@slow.test\r\nAction: failed\r\nStatus: 5.4.1\r\n") !=
      std::string_view::npos);
  CHECK(part_text(dsn, root.children[2]) == kOriginal);
  CHECK(part_text(dsn, root.children[0]).find("550 5.1.1") != std::string_view::npos);
}

TEST_CASE("DSN: RET=HDRS returns the header only, as text/rfc822-headers") {
  DsnReport r = report();
  r.headers_only = true;
  r.original = std::string(message_header(kOriginal));
  std::string dsn = compose_dsn(r);
  mime::MessageParser parser;
  parser.feed(dsn);
  auto root = parser.finish();
  REQUIRE(root.children.size() == 3);
  CHECK(root.children[2].type == "text");
  CHECK(root.children[2].subtype == "rfc822-headers");
  CHECK(dsn.find("body line") == std::string::npos);
  CHECK(dsn.find("Subject: hello") != std::string::npos);
}

TEST_CASE("DSN: text from the network cannot break the header lines") {
  DsnReport r = report();
  r.entries[0].recipient.last_reply = "550 5.7.1 evil\r\nX-Injected: yes";
  std::string dsn = compose_dsn(r);
  CHECK(dsn.find("\r\nX-Injected") == std::string::npos);
}

TEST_CASE("DSN: NOTIFY decides who gets one (RFC 3461)") {
  Recipient r;
  CHECK(wants_dsn(r, DsnAction::Failed));  // default: FAILURE (and DELAY)
  CHECK_FALSE(wants_dsn(r, DsnAction::Delivered));
  r.notify = "NEVER";
  CHECK_FALSE(wants_dsn(r, DsnAction::Failed));
  r.notify = "SUCCESS";
  CHECK_FALSE(wants_dsn(r, DsnAction::Failed));
  CHECK(wants_dsn(r, DsnAction::Delivered));
  r.notify = "delay,failure";
  CHECK(wants_dsn(r, DsnAction::Failed));
  CHECK_FALSE(wants_dsn(r, DsnAction::Delivered));
}

TEST_CASE("DSN: status codes from replies") {
  CHECK(dsn_status("550 5.1.1 no such user", DsnAction::Failed) == "5.1.1");
  CHECK(dsn_status("552-5.2.2 mailbox full", DsnAction::Failed) == "5.2.2");
  CHECK(dsn_status("451 4.4.1 connection refused", DsnAction::Failed) == "5.4.1");
  CHECK(dsn_status("554 transaction failed", DsnAction::Failed) == "5.0.0");
  CHECK(dsn_status("421 closing", DsnAction::Failed) == "5.0.0");
  CHECK(dsn_status("", DsnAction::Failed) == "5.0.0");
  CHECK(dsn_status("250 ok", DsnAction::Delivered) == "2.0.0");
}

TEST_CASE("rfc5322_date") {
  CHECK(rfc5322_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000");
  CHECK(rfc5322_date(1763750000) == "Fri, 21 Nov 2025 18:33:20 +0000");
}
