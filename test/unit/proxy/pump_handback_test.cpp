// The pump's Handback with the IMAP side (proxy/imap_handback.hpp): a
// client's LOGOUT returns the node connection, at once or after the node's
// answer to UNAUTHENTICATE (the rig: pump_rig.hpp).
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "test/unit/proxy/pump_rig.hpp"

namespace postern::proxy {
namespace {

using namespace std::chrono_literals;
using namespace pump_testing;

// One line (through its LF) from a blocking socket, or what came before EOF.
std::string recv_line(int fd) {
  std::string out;
  char c = 0;
  while (::recv(fd, &c, 1, 0) == 1) {
    out.push_back(c);
    if (c == '\n') break;
  }
  return out;
}

// The tag of the proxy's "<tag> UNAUTHENTICATE <token>" line.
std::string release_tag(const std::string& line) {
  auto sp = line.find(' ');
  REQUIRE(sp != std::string::npos);
  CHECK(line.substr(sp) == std::string(" UNAUTHENTICATE ") + kToken + "\r\n");
  return line.substr(0, sp);
}

TEST_CASE("pump handback: a LOGOUT while the node owes answers releases it now, after them") {
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), "a NOOP\r\nb LOGOUT\r\nc NOOP\r\n"));
  CHECK(recv_line(rig.node_peer()) == "a NOOP\r\n");
  const std::string tag = release_tag(recv_line(rig.node_peer()));
  // What the node still owed the client reaches it first; the node's answer
  // to the release does not.
  REQUIRE(send_all(rig.node_peer(), "* 3 EXISTS\r\na OK NOOP done\r\n"));
  REQUIRE(send_all(rig.node_peer(), tag + " OK Unauthenticated.\r\n"));
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) ==
        "* 3 EXISTS\r\na OK NOOP done\r\n* BYE Logging out.\r\nb OK Logout completed.\r\n");
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "logout");
  CHECK(rig.released());
  CHECK(rig.released_pending().empty());
  // The node's end is still open, and heard nothing after the release (the
  // client's "c NOOP" after its LOGOUT went nowhere).
  timeval tv{0, 200'000};
  ::setsockopt(rig.node_peer(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte = 0;
  CHECK(::recv(rig.node_peer(), &byte, 1, 0) < 0);
}

TEST_CASE("pump handback: the answer split anywhere is still found") {
  for (std::size_t cut : {1u, 5u, 12u, 25u, 30u}) {
    CAPTURE(cut);
    PumpRig rig({.imap_handback = true});
    REQUIRE(send_all(rig.client_peer(), "y NOOP\r\nz LOGOUT\r\n"));
    CHECK(recv_line(rig.node_peer()) == "y NOOP\r\n");
    const std::string tag = release_tag(recv_line(rig.node_peer()));
    const std::string answer = "* OK still here\r\ny OK\r\n" + tag + " OK done\r\n";
    REQUIRE(send_all(rig.node_peer(), answer.substr(0, std::min(cut, answer.size()))));
    std::this_thread::sleep_for(20ms);
    REQUIRE(send_all(rig.node_peer(), answer.substr(std::min(cut, answer.size()))));
    bool eof = false;
    CHECK(recv_to_eof(rig.client_peer(), &eof) ==
          "* OK still here\r\ny OK\r\n* BYE Logging out.\r\nz OK Logout completed.\r\n");
    REQUIRE(rig.wait_done(2s));
    CHECK(rig.released());
  }
}

TEST_CASE("pump handback: a refusal or bytes after the answer close the node connection") {
  for (const char* after : {" NO not now\r\n", " OK done\r\n* 1 EXISTS\r\n"}) {
    CAPTURE(after);
    PumpRig rig({.imap_handback = true});
    REQUIRE(send_all(rig.client_peer(), "p NOOP\r\nq LOGOUT\r\n"));
    CHECK(recv_line(rig.node_peer()) == "p NOOP\r\n");
    const std::string tag = release_tag(recv_line(rig.node_peer()));
    REQUIRE(send_all(rig.node_peer(), "p OK\r\n" + tag + after));
    bool eof = false;
    CHECK(recv_to_eof(rig.client_peer(), &eof) ==
          "p OK\r\n* BYE Logging out.\r\nq OK Logout completed.\r\n");
    REQUIRE(rig.wait_done(2s));
    CHECK_FALSE(rig.released());
    CHECK(recv_to_eof(rig.node_peer(), &eof).empty());
    CHECK(eof);
  }
}

TEST_CASE("pump handback: a client gone before the node answers still ends the session") {
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), "a NOOP\r\nb LOGOUT\r\n"));
  CHECK(recv_line(rig.node_peer()) == "a NOOP\r\n");
  const std::string tag = release_tag(recv_line(rig.node_peer()));
  rig.hang_up_client();
  std::this_thread::sleep_for(20ms);
  REQUIRE(send_all(rig.node_peer(), "* 1 EXISTS\r\na OK\r\n" + tag + " OK done\r\n"));
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.released());
}

// The node heard nothing more after `ms`.
bool node_hears_nothing(PumpRig& rig, int ms = 200) {
  timeval tv{0, ms * 1000};
  ::setsockopt(rig.node_peer(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte = 0;
  return ::recv(rig.node_peer(), &byte, 1, 0) < 0;
}

// The client sends `commands` (each answered by `answers`, in `pieces`),
// then LOGOUT once everything has arrived: with nothing owed, the goodbye
// comes at once and the UNAUTHENTICATE waits for the next user.
void check_settled_logout(const std::string& commands, const std::string& answers,
                          std::size_t pieces) {
  CAPTURE(commands);
  CAPTURE(pieces);
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), commands));
  CHECK(recv_exact(rig.node_peer(), commands.size()) == commands);
  const std::size_t step = (answers.size() + pieces - 1) / pieces;
  for (std::size_t at = 0; at < answers.size(); at += step) {
    REQUIRE(send_all(rig.node_peer(), answers.substr(at, step)));
    std::this_thread::sleep_for(5ms);
  }
  CHECK(recv_exact(rig.client_peer(), answers.size()) == answers);
  REQUIRE(send_all(rig.client_peer(), "z LOGOUT\r\n"));
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) == "* BYE Logging out.\r\nz OK Logout completed.\r\n");
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "logout");
  CHECK(rig.released());
  const std::string pending = rig.released_pending();
  CHECK(release_tag(pending).size() > 8);
  CHECK(node_hears_nothing(rig));
}

TEST_CASE("pump handback: a LOGOUT with nothing owed is answered at once; UNAUTHENTICATE waits") {
  // Straight after the login.
  check_settled_logout("", "", 1);
  check_settled_logout("a NOOP\r\n", "* 2 EXISTS\r\na OK NOOP done\r\n", 1);
  // A literal in an answer holds a line that looks tagged; split anywhere.
  const std::string fetch =
      "* 1 FETCH (BODY[] {24}\r\nb OK not an answer\r\n\r\n)\r\n* 2 FETCH (BODY[] {0}\r\n)\r\n"
      "a OK FETCH done\r\n";
  for (std::size_t pieces : {1u, 3u, 7u, 20u})
    check_settled_logout("a FETCH 1:2 BODY[]\r\n", fetch, pieces);
  check_settled_logout("a SELECT INBOX\r\n", "a OK [READ-WRITE] done\r\n", 1);
}

TEST_CASE("pump handback: a LOGOUT pipelined behind the login ends the session as it starts") {
  // The IMAP proxy puts what the client sent after its login back in the
  // client's input; start() finds the LOGOUT there.
  PumpRig rig({.imap_handback = true, .client_unread = "b LOGOUT\r\nc NOOP\r\n"});
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) == "* BYE Logging out.\r\nb OK Logout completed.\r\n");
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "logout");
  CHECK(rig.released());
  CHECK_FALSE(rig.released_pending().empty());
  CHECK(node_hears_nothing(rig));
}

// The node asked the client for data once (IDLE's "+"), or the client
// announced a literal (here one the node may frame otherwise: at the end of
// a line with an unclosed quote): the node could be reading what follows as
// data, so the UNAUTHENTICATE goes now, never behind the next user's login.
void check_release_now_after(const std::string& command, const std::string& node_says,
                             const std::string& client_then, const std::string& node_ends) {
  CAPTURE(command);
  PumpRig rig({.imap_handback = true});
  REQUIRE(send_all(rig.client_peer(), command));
  CHECK(recv_exact(rig.node_peer(), command.size()) == command);
  REQUIRE(send_all(rig.node_peer(), node_says));
  CHECK(recv_exact(rig.client_peer(), node_says.size()) == node_says);
  if (!client_then.empty()) {
    REQUIRE(send_all(rig.client_peer(), client_then));
    CHECK(recv_exact(rig.node_peer(), client_then.size()) == client_then);
  }
  if (!node_ends.empty()) {
    REQUIRE(send_all(rig.node_peer(), node_ends));
    CHECK(recv_exact(rig.client_peer(), node_ends.size()) == node_ends);
  }
  REQUIRE(send_all(rig.client_peer(), "z LOGOUT\r\n"));
  const std::string tag = release_tag(recv_line(rig.node_peer()));
  REQUIRE(send_all(rig.node_peer(), tag + " OK done\r\n"));
  bool eof = false;
  CHECK(recv_to_eof(rig.client_peer(), &eof) == "* BYE Logging out.\r\nz OK Logout completed.\r\n");
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.released());
  CHECK(rig.released_pending().empty());
}

TEST_CASE("pump handback: after the node asked for data or a literal, the release goes now") {
  // An IDLE and its DONE (one command, answered).
  check_release_now_after("a IDLE\r\n", "+ idling\r\n", "DONE\r\n", "a OK IDLE done\r\n");
  // A LITERAL+ the scanner follows and the node, refusing the line, may
  // not: the counts agree, and still nothing is known.
  check_release_now_after("a SELECT \"x {18+}\r\nh APPEND INBOX {9}\r\n", "a BAD missing quote\r\n",
                          "", "");
}

TEST_CASE("pump handback: an answer still under way sends the release now") {
  // Untagged data only, or the tagged line cut short: the node owes.
  for (const char* sent : {"* 1 EXISTS\r\n", "a OK NOO"}) {
    CAPTURE(sent);
    PumpRig rig({.imap_handback = true});
    REQUIRE(send_all(rig.client_peer(), "a NOOP\r\n"));
    CHECK(recv_line(rig.node_peer()) == "a NOOP\r\n");
    REQUIRE(send_all(rig.node_peer(), sent));
    CHECK(recv_exact(rig.client_peer(), std::strlen(sent)) == sent);
    REQUIRE(send_all(rig.client_peer(), "b LOGOUT\r\n"));
    const std::string tag = release_tag(recv_line(rig.node_peer()));
    const std::string rest = std::string(sent)[0] == '*' ? "a OK\r\n" : "P\r\n";
    REQUIRE(send_all(rig.node_peer(), rest + tag + " OK done\r\n"));
    bool eof = false;
    CHECK(recv_to_eof(rig.client_peer(), &eof) ==
          rest + "* BYE Logging out.\r\nb OK Logout completed.\r\n");
    REQUIRE(rig.wait_done(2s));
    CHECK(rig.released());
    CHECK(rig.released_pending().empty());
  }
}

TEST_CASE("pump handback: a LOGOUT inside a literal passes to the node as data") {
  PumpRig rig({.imap_handback = true});
  const std::string append = "a APPEND INBOX {10+}\r\nb LOGOUT\r\n\r\n";
  REQUIRE(send_all(rig.client_peer(), append));
  CHECK(recv_exact(rig.node_peer(), append.size()) == append);
  // The node closing ends the session as without a handback.
  rig.hang_up_node();
  bool eof = false;
  recv_to_eof(rig.client_peer(), &eof);
  CHECK(eof);
  REQUIRE(rig.wait_done(2s));
  CHECK(rig.result().reason == "node_closed");
}

}  // namespace
}  // namespace postern::proxy
