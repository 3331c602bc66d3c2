#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "backend/smtp/data_reader.hpp"
#include "backend/smtp/header_scan.hpp"
#include "test/unit/split_feed.hpp"

using postern::node::smtp::DataReader;
using postern::node::smtp::HeaderScanner;

namespace {

// Feeds `chunks` (a DATA phase and maybe what follows it); returns the message,
// whether the end was seen and the bytes left after it.
std::string run_data(const std::vector<std::string_view>& chunks) {
  DataReader reader;
  std::string message;
  std::string rest;
  bool done = false;
  for (auto chunk : chunks) {
    if (done) {
      rest += chunk;
      continue;
    }
    auto r = reader.feed(chunk, message);
    if (r.done) {
      done = true;
      rest += chunk.substr(r.consumed);
    } else {
      CHECK(r.consumed == chunk.size());
    }
  }
  return message + "|done=" + (done ? "1" : "0") + "|rest=" + rest;
}

std::string whole(std::string_view input) {
  return run_data({input});
}

std::string count_received(const std::vector<std::string_view>& chunks) {
  HeaderScanner scan;
  for (auto chunk : chunks) scan.feed(chunk);
  return std::to_string(scan.received()) + (scan.headers_done() ? " body" : " headers");
}

}  // namespace

TEST_CASE("smtp data: the end-of-data line ends the message; the CRLF before it is kept") {
  CHECK(whole("Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n") ==
        "Subject: a\r\n\r\nbody\r\n|done=1|rest=QUIT\r\n");
  CHECK(whole(".\r\n") == "|done=1|rest=");  // an empty message
  CHECK(whole("a\r\n.\r") == "a\r\n|done=0|rest=");
}

TEST_CASE("smtp data: dot-stuffing is removed") {
  CHECK(whole("..hidden\r\n...\r\nx.y\r\n.\r\n") == ".hidden\r\n..\r\nx.y\r\n|done=1|rest=");
  CHECK(whole(". \r\n.\r\n") == " \r\n|done=1|rest=");
  CHECK(whole(".\rx\r\n.\r\n") == "\rx\r\n|done=1|rest=");
}

TEST_CASE("smtp data: bare LF never ends the data (no smuggling)") {
  CHECK(whole("a\n.\nMAIL FROM:<x@y>\r\n.\r\n") == "a\n.\nMAIL FROM:<x@y>\r\n|done=1|rest=");
  CHECK(whole("a\n.\r\nb\r\n.\r\n") == "a\n.\r\nb\r\n|done=1|rest=");
  CHECK(whole("a\r.\r\nb\r\n.\r\n") == "a\r.\r\nb\r\n|done=1|rest=");
}

TEST_CASE("smtp data: any split gives the same message") {
  for (const char* input : {
           "Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n",
           "..x\r\n.\r\r\n.y\r\n.\r\nRSET\r\n",
           "a\n.\nb\r\n..\r\n.\r\n",
           "\r\n.\r\n",
           "no end\r\n.",
       }) {
    CAPTURE(input);
    CHECK(postern::test::check_split_invariance(input, run_data) == "");
  }
}

TEST_CASE("received count: fields in the header section only, any case, any split") {
  const std::string message =
      "Received: from a\r\n\tby b; date\r\n"
      "received : from c\r\n"
      "RECEIVED:x\r\n"
      "Received-SPF: pass\r\n"
      "X-Received: no\r\n"
      " Received: a continuation\r\n"
      "Subject: Received: no\r\n"
      "\r\n"
      "Received: in the body\r\n";
  CHECK(count_received({message}) == "3 body");
  CHECK(postern::test::check_split_invariance(message, count_received) == "");
  CHECK(count_received({"Received: a\nReceived: b\n\nReceived: c\n"}) == "2 body");
  CHECK(count_received({"Received: a\r\nReceived"}) == "1 headers");
  CHECK(count_received({"\r\nReceived: a\r\n"}) == "0 body");
}
