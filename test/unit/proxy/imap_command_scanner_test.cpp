#include "proxy/imap_command_scanner.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

using postern::proxy::ImapCommandScanner;
using postern::proxy::is_logout_line;

namespace {

struct Outcome {
  std::string passed;  // what went to the node, in order
  bool logout = false;
  std::string tag;
  std::string held;  // presented but neither passed nor the LOGOUT line
};

// Feeds `stream` in pieces cut at `cuts`, as the pump does: each time, the
// bytes not passed on yet plus the new piece.
Outcome run(const std::string& stream, const std::vector<std::size_t>& cuts) {
  ImapCommandScanner s;
  Outcome o;
  std::string pending;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(stream.size());
  for (std::size_t end : ends) {
    pending += stream.substr(from, end - from);
    from = end;
    auto r = s.scan(pending);
    o.passed += pending.substr(0, r.pass);
    pending.erase(0, r.pass);
    if (r.logout) {
      o.logout = true;
      o.tag = r.tag;
      CHECK(r.logout_len <= pending.size());
      pending.erase(0, r.logout_len);
      break;
    }
  }
  o.held = pending;
  return o;
}

// Every way of cutting `stream` in two, and byte by byte.
void each_split(const std::string& stream, const std::function<void(const Outcome&)>& check) {
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    check(run(stream, {cut}));
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  check(run(stream, every));
}

}  // namespace

TEST_CASE("imap command scanner: LOGOUT lines") {
  std::string tag;
  CHECK(is_logout_line("a1 LOGOUT\r\n", &tag));
  CHECK(tag == "a1");
  CHECK(is_logout_line("A logout\n", &tag));
  CHECK(is_logout_line("x.y LoGoUt", &tag));
  CHECK_FALSE(is_logout_line("a1 LOGOUT extra\r\n", nullptr));
  CHECK_FALSE(is_logout_line("a1  LOGOUT\r\n", nullptr));
  CHECK_FALSE(is_logout_line(" LOGOUT\r\n", nullptr));
  CHECK_FALSE(is_logout_line("LOGOUT\r\n", nullptr));
  CHECK_FALSE(is_logout_line("a1 LOGOUTS\r\n", nullptr));
  CHECK_FALSE(is_logout_line("a(1 LOGOUT\r\n", nullptr));
  CHECK_FALSE(is_logout_line("* LOGOUT\r\n", nullptr));
  CHECK_FALSE(is_logout_line("+ LOGOUT\r\n", nullptr));
}

TEST_CASE("imap command scanner: finds LOGOUT after pipelined commands, at every split") {
  const std::string before = "a2 SELECT INBOX\r\na3 FETCH 1:* (FLAGS)\r\n";
  each_split(before + "a4 LOGOUT\r\nafter\r\n", [&](const Outcome& o) {
    CHECK(o.logout);
    CHECK(o.tag == "a4");
    CHECK(o.passed == before);
  });
}

TEST_CASE("imap command scanner: a LOGOUT inside a literal is data") {
  // An APPEND whose message holds a LOGOUT line, then the real one.
  const std::string literal = "x\r\nz LOGOUT\r\n";
  const std::string append =
      "a2 APPEND INBOX {" + std::to_string(literal.size()) + "+}\r\n" + literal + "\r\n";
  each_split(append + "a3 LOGOUT\r\n", [&](const Outcome& o) {
    CHECK(o.logout);
    CHECK(o.tag == "a3");
    CHECK(o.passed == append);
  });
  // Binary literals count the same; two literals in one command; the
  // command goes on after each.
  const std::string two = "a5 LOGIN {9+}\r\nq LOGOUT\n ~{11+}\r\nr LOGOUT\r\n tail\r\n";
  each_split(two + "a6 logout\n", [&](const Outcome& o) {
    CHECK(o.logout);
    CHECK(o.tag == "a6");
    CHECK(o.passed == two);
  });
}

TEST_CASE("imap command scanner: an incomplete short line waits, a long one goes") {
  ImapCommandScanner s;
  auto r = s.scan("a1 NOOP\r\na2 LOG");
  CHECK(r.pass == 9);
  CHECK_FALSE(r.logout);
  r = s.scan("a2 LOGOUT\r");
  CHECK(r.pass == 0);
  r = s.scan("a2 LOGOUT\r\n");
  CHECK(r.logout);
  CHECK(r.pass == 0);
  CHECK(r.logout_len == 11);

  ImapCommandScanner t;
  std::string long_line = "a1 SEARCH " + std::string(100, 'X');
  r = t.scan(long_line);
  CHECK(r.pass == long_line.size());
  // The end of that line and then a LOGOUT.
  r = t.scan(" {3+}\r\nabc\r\nb LOGOUT\r\n");
  CHECK(r.logout);
  CHECK(r.pass == 12);
}

TEST_CASE("imap command scanner: a synchronising literal cannot be followed") {
  // The node may refuse it (BAD, NO [TOOBIG]) and the client then never
  // sends its bytes: what follows cannot be framed for sure.
  ImapCommandScanner s;
  auto r = s.scan("a1 FOO ) {30}\r\nb LOGOUT\r\n");
  CHECK_FALSE(r.logout);
  CHECK(s.lost());
}

TEST_CASE("imap command scanner: a LOGOUT instead of DONE does not end an IDLE's session") {
  ImapCommandScanner s;
  auto r = s.scan("a1 IDLE\r\nb LOGOUT\r\n");
  CHECK_FALSE(r.logout);
  CHECK(s.lost());
  ImapCommandScanner t;
  r = t.scan("a1 IDLE\r\ndone\r\nb LOGOUT\r\n");
  CHECK(r.logout);
  CHECK(r.tag == "b");
}

TEST_CASE("imap command scanner: IDLE's DONE and other lines are not LOGOUT") {
  each_split("a1 IDLE\r\nDONE\r\na2 NOOP\r\n", [](const Outcome& o) {
    CHECK_FALSE(o.logout);
    CHECK(o.passed == "a1 IDLE\r\nDONE\r\na2 NOOP\r\n");
    CHECK(o.held.empty());
  });
}

TEST_CASE("imap command scanner: a literal size it cannot use stops the search") {
  ImapCommandScanner s;
  auto r = s.scan("a1 APPEND INBOX {99999999999999999999+}\r\nb LOGOUT\r\n");
  CHECK_FALSE(r.logout);
  CHECK(s.lost());
  CHECK(r.pass == 51);
  r = s.scan("c LOGOUT\r\n");
  CHECK_FALSE(r.logout);
  CHECK(r.pass == 10);
}
