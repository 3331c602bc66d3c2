// The IMAP side of a Pump's Handback (proxy/pump.hpp): a client's LOGOUT
// keeps the node connection for the next login instead of closing it.
//
// When the node has answered every command the client sent (as many tagged
// answers as commands, ImapAnswerCounter against ImapCommandScanner), the
// proxy answers the LOGOUT at once and the UNAUTHENTICATE waits for the
// connection's next user, who sends it ahead of its ID and login in one
// write and goes on only after its OK (ImapProxySession). Otherwise:
//
//   client: a9 LOGOUT          (found by ImapCommandScanner, not passed on)
//   proxy → node: <T> UNAUTHENTICATE <token>
//   node: ...responses still owed to the client...   → passed on
//   node: <T> OK ...           (not passed on; nothing may follow it)
//   proxy → client: * BYE Logging out. / a9 OK Logout completed.
//
// <token> is the reuse token the proxy gave the node in its ID before the
// login; the node accepts UNAUTHENTICATE on a proxied session only with it,
// so a client behind the proxy can never return the connection to the
// not-authenticated state itself. <T> is made from the token, which the
// client never sees, so nothing the client makes the node send (a message
// body) can pass for the node's answer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "proxy/imap_command_scanner.hpp"
#include "proxy/pump.hpp"

namespace postern::proxy {

class ImapHandback final : public Handback {
 public:
  using Released = std::function<void(std::unique_ptr<core::Connection>, std::string pending)>;
  ImapHandback(std::string token, Released released);

  ClientScan scan_client(std::string_view data) override;
  void watch_node(std::string_view data) override { counter_.scan(data); }
  std::string release_command() override;
  NodeScan scan_node(std::string_view data) override;
  std::string farewell() override;
  void released(std::unique_ptr<core::Connection> node, std::string pending) override;

 private:
  ImapCommandScanner scanner_;
  ImapAnswerCounter counter_;
  std::string token_;
  std::string tag_;  // of our UNAUTHENTICATE
  ImapAnswerScanner answer_;
  std::string client_tag_;
  Released released_;
};

}  // namespace postern::proxy
