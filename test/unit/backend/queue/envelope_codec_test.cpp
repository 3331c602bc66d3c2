#include "backend/queue/envelope_codec.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace postern::node::queue;

namespace {

Envelope sample() {
  Envelope e;
  e.sender = "sender@example.org";
  Recipient local;
  local.address = "alice@example.com";
  local.route = Route::Local;
  local.mailbox = "Archive";
  local.notify = "SUCCESS,FAILURE";
  local.orcpt = "rfc822;Alice+40example.com";
  Recipient relay;
  relay.address = "bob@example.com";
  relay.route = Route::Node;
  relay.node = "node2";
  relay.state = RecipientState::Failed;
  relay.last_reply = "550 5.1.1 no such user";
  relay.remote_mta = "node2 [127.0.0.1]";
  Recipient mx;
  mx.address = "x@outside.test";
  mx.state = RecipientState::Delivered;
  e.recipients = {local, relay, mx};
  e.ret = "HDRS";
  e.envid = "abc+2Bdef";
  e.eight_bit = true;
  e.smtputf8 = true;
  e.client_helo = "client.example.org";
  e.client_address = "192.0.2.7";
  e.auth_user = "sender@example.org";
  e.is_bounce = true;
  e.arrival = 1763750000;
  e.next_attempt = 1763750060;
  e.attempts = 3;
  return e;
}

void check_same(const Envelope& a, const Envelope& b) {
  CHECK(a.sender == b.sender);
  REQUIRE(a.recipients.size() == b.recipients.size());
  for (std::size_t i = 0; i < a.recipients.size(); ++i) {
    const Recipient& x = a.recipients[i];
    const Recipient& y = b.recipients[i];
    CHECK(x.address == y.address);
    CHECK(x.route == y.route);
    CHECK(x.node == y.node);
    CHECK(x.mailbox == y.mailbox);
    CHECK(x.notify == y.notify);
    CHECK(x.orcpt == y.orcpt);
    CHECK(x.state == y.state);
    CHECK(x.last_reply == y.last_reply);
    CHECK(x.remote_mta == y.remote_mta);
  }
  CHECK(a.ret == b.ret);
  CHECK(a.envid == b.envid);
  CHECK(a.eight_bit == b.eight_bit);
  CHECK(a.smtputf8 == b.smtputf8);
  CHECK(a.client_helo == b.client_helo);
  CHECK(a.client_address == b.client_address);
  CHECK(a.auth_user == b.auth_user);
  CHECK(a.is_bounce == b.is_bounce);
  CHECK(a.arrival == b.arrival);
  CHECK(a.next_attempt == b.next_attempt);
  CHECK(a.attempts == b.attempts);
}

}  // namespace

TEST_CASE("envelope codec: every field survives a round trip") {
  Envelope e = sample();
  auto text = encode_envelope(e);
  auto back = decode_envelope(text);
  REQUIRE(back.has_value());
  check_same(e, *back);
}

TEST_CASE("envelope codec: invalid UTF-8 from the network does not make it unwritable") {
  Envelope e = sample();
  e.recipients[1].last_reply = "550 \xff\xfe bad bytes";
  auto back = decode_envelope(encode_envelope(e));
  REQUIRE(back.has_value());
  CHECK(back->recipients[1].last_reply.substr(0, 4) == "550 ");
}

TEST_CASE("envelope codec: malformed files are refused with the field named") {
  CHECK(decode_envelope("").error() == "not valid JSON");
  CHECK(decode_envelope("{\"v\": 1, \"sender\": \"a\"").error() == "not valid JSON");  // torn
  CHECK(decode_envelope("[1, 2]").error() == "expected a JSON object");
  CHECK(decode_envelope("{\"sender\": \"a\"}").error() == "v: missing");
  CHECK(decode_envelope("{\"v\": 9}").error().find("unsupported version") == 0);

  std::string good = encode_envelope(sample());
  auto broken = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return decode_envelope(text);
  };
  CHECK(broken("\"route\":\"local\"", "\"route\":\"pigeon\"").error() ==
        "recipients[].route: unknown \"pigeon\"");
  CHECK(broken("\"state\":\"failed\"", "\"state\":7").error() == "recipients[].state: wrong type");
  CHECK(broken("\"attempts\":3", "\"attempts\":-1").error() == "attempts: out of range");
  CHECK(broken("\"sender\":\"sender@example.org\"", "\"sender\":null").error() ==
        "sender: wrong type");
  CHECK(broken("\"is_bounce\":true", "\"is_bounce\":\"yes\"").error() == "is_bounce: wrong type");
  CHECK(broken("\"address\":\"alice@example.com\"", "\"address\":\"\"").error() ==
        "recipients[].address: empty");
  Envelope none = sample();
  none.recipients.clear();
  CHECK(decode_envelope(encode_envelope(none)).error() == "recipients: empty");
}
