#include "proxy/imap_command_scanner.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

using postern::proxy::ImapAnswerCounter;
using postern::proxy::ImapCommandScanner;
using postern::proxy::is_logout_line;

namespace {

struct Outcome {
  std::string passed;  // what went to the node, in order
  bool logout = false;
  std::string tag;
  std::string held;  // presented but neither passed nor the LOGOUT line
  std::uint64_t commands = 0;
  bool saw_brace = false;
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
  o.commands = s.commands();
  o.saw_brace = s.saw_brace();
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

TEST_CASE("imap command scanner: counts the commands before the LOGOUT, at every split") {
  // A LITERAL+ APPEND, an IDLE with its DONE (one command), a NOOP.
  const std::string stream =
      "a NOOP\r\nb APPEND INBOX {12+}\r\nc LOGOUT\r\n\r\n\r\nd IDLE\r\nDONE\r\ne LOGOUT\r\n";
  each_split(stream, [](const Outcome& o) {
    CHECK(o.logout);
    CHECK(o.tag == "e");
    CHECK(o.commands == 3);
    CHECK(o.saw_brace);
  });
}

TEST_CASE("imap command scanner: notes any brace outside literal data, at every split") {
  each_split("a NOOP\r\nb SELECT INBOX\r\nc LOGOUT\r\n", [](const Outcome& o) {
    CHECK(o.commands == 2);
    CHECK_FALSE(o.saw_brace);
  });
  // In a long line, a short one, and inside literal data (which does not count).
  const std::string long_line =
      "a SEARCH SUBJECT \"" + std::string(100, 'x') + "{\"\r\nz LOGOUT\r\n";
  each_split(long_line, [](const Outcome& o) { CHECK(o.saw_brace); });
  each_split("a NOOP {\r\nz LOGOUT\r\n", [](const Outcome& o) { CHECK(o.saw_brace); });
}

namespace {

struct Counted {
  std::uint64_t tagged = 0;
  bool at_start = false;
  bool lost = false;
  bool asked = false;
};

Counted count(const std::string& stream, const std::vector<std::size_t>& cuts) {
  ImapAnswerCounter c;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(stream.size());
  for (std::size_t end : ends) {
    c.scan(std::string_view(stream).substr(from, end - from));
    from = end;
  }
  return {c.tagged(), c.at_response_start(), c.lost(), c.asked_for_data()};
}

void each_count_split(const std::string& stream, const std::function<void(const Counted&)>& check) {
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    check(count(stream, {cut}));
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  check(count(stream, every));
}

}  // namespace

TEST_CASE("imap answer counter: tagged answers, not untagged data or literal bytes") {
  // Literals (one holding lines that look tagged, an empty one, a BINARY
  // ~{n}), a continuation request, untagged data; three tagged answers.
  const std::string stream =
      "* 1 FETCH (BODY[] {30}\r\nx OK fake\r\ny NO fake too\r\n BODY[1] {0}\r\n)\r\n"
      "* 2 FETCH (BINARY[] ~{5}\r\nz OK\n)\r\na OK done\r\n+ idling\r\n* 3 EXISTS\r\n"
      "b OK IDLE done\r\nc NO [TRYCREATE] no\r\n";
  each_count_split(stream, [](const Counted& c) {
    CHECK(c.tagged == 3);
    CHECK(c.at_start);
    CHECK_FALSE(c.lost);
    CHECK(c.asked);  // "+ idling"
  });
  // A "+" inside a literal or a line is not a request.
  each_count_split("* 1 FETCH (BODY[] {9}\r\n+ go on\r\n)\r\na OK + done\r\n",
                   [](const Counted& c) { CHECK_FALSE(c.asked); });
}

TEST_CASE("imap answer counter: a response under way is not a response start") {
  for (const char* s :
       {"a OK don", "* 1 FETCH (BODY[] {10}\r\nabc", "* 1 FETCH (BODY[] {3}\r\nabc"}) {
    CAPTURE(s);
    each_count_split(s, [](const Counted& c) { CHECK_FALSE(c.at_start); });
  }
  CHECK(count("a OK don", {}).tagged == 1);
  CHECK(count("", {}).at_start);
}

TEST_CASE("imap answer counter: a literal size it cannot count loses it") {
  Counted c = count("* 1 FETCH (BODY[] {1234567890123456789012}\r\nx OK\r\n", {});
  CHECK(c.lost);
}
