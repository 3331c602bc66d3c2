// The SMTP proxy's dialogue (DESIGN.md section 5), for "smtp" (port 25) and
// "submission" (587/465) listeners. Before the hand-off the proxy answers
// like the node would: EHLO/HELO, STARTTLS, RSET, NOOP, VRFY, HELP, QUIT,
// MAIL (checked, kept as sent) and, on submission, AUTH PLAIN / LOGIN.
//
// The routing key: on "smtp", the first RCPT's account (a domain that is not
// local is refused here, 554 5.7.1, without asking the directory); on
// "submission", the AUTH user. Then, with that account's node:
//
//   node: 220 ...                          (greeting)
//   EHLO <proxy>            → 250          (must list XCLIENT: we are trusted)
//   STARTTLS → 220, TLS, EHLO <proxy>      (when the hop uses STARTTLS)
//   XCLIENT ADDR= PORT= HELO= PROTO= [LOGIN=<account>]  → 220 (a new greeting)
//   EHLO|HELO <client's name>  → 250
//   smtp:        MAIL ... → 250, RCPT ... → the node's answer goes to the client
//   submission:  235 to the client (or, without verify_credentials, AUTH
//                PLAIN replayed and the node's answer goes to the client)
//
// and the pump takes over. Commands the client pipelined behind the routing
// command stay in its input and reach the node through the pump.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/listener.hpp"
#include "core/net_address.hpp"
#include "core/secret.hpp"
#include "core/smtp_command.hpp"
#include "proxy/proxy_config.hpp"
#include "proxy/proxy_session.hpp"

namespace postern::proxy {

std::shared_ptr<ProxySession> make_smtp_session(ProxyContext& ctx, core::EventLoop& loop,
                                                core::Accepted accepted, ProxySession::Ended ended);

// ---- Pure parts (no I/O; unit-tested) ----------------------------------------

// The EHLO reply before the hand-off: what the node announces to a client
// after it (never XCLIENT, never something the node lacks).
std::string smtp_ehlo_reply(const ProxySmtpConfig& smtp, bool starttls, bool auth);

// RFC 3461 xtext: octets outside "!".."~", "+" and "=" become "+XX".
std::string xtext_encode(std::string_view text);

// "XCLIENT ADDR=... PORT=... HELO=... PROTO=ESMTP|SMTP[ LOGIN=...]\r\n".
// A HELO name too long to fit the node's command line is sent as
// [UNAVAILABLE] (the EHLO replayed after it carries the name anyway).
std::string xclient_command(const core::PeerAddress& client, std::string_view helo, bool esmtp,
                            std::string_view login);

// Collects one reply from the node, a line at a time: "250-a", "250-b",
// "250 c". Bounded: a reply of too many lines is malformed.
class SmtpReplyReader {
 public:
  enum class Status { More, Done, Malformed };
  Status feed(std::string_view line);
  void reset();
  int code() const { return code_; }
  // The reply as received, each line ended by CRLF: passed to the client as is.
  std::string text() const;
  // The first line (for logs).
  const std::string& first() const { return lines_.front(); }
  // An EHLO keyword in a complete 250 reply (case-insensitive, after the
  // first line): "XCLIENT", "STARTTLS".
  bool has_keyword(std::string_view keyword) const;

  static constexpr std::size_t kMaxLines = 64;

 private:
  int code_ = 0;
  std::vector<std::string> lines_;
};

// The session; the client's dialogue is in smtp_proxy.cpp, the node's in
// smtp_proxy_handoff.cpp.
class SmtpProxySession final : public ProxySession {
 public:
  // `protocol` ("smtp" or "submission", the listener's) names the session
  // and the node endpoint it is handed to.
  SmtpProxySession(ProxyContext& ctx, core::EventLoop& loop, core::Accepted accepted,
                   std::string protocol, Ended ended);

 private:
  enum class AuthStep { None, PlainResponse, LoginUser, LoginPassword };
  // Where the node dialogue is: what the node's next reply answers.
  enum class Hop { Greeting, Ehlo, StartTls, TlsWait, Xclient, ClientEhlo, Auth, Mail, Rcpt };

  void greet() override;
  std::string goodbye(std::string_view why) const override;
  void on_client_input() override;
  void on_node_connected() override;
  void on_node_input() override;
  void on_node_tls() override;
  void node_failed(std::string_view why) override;

  // ---- the client (smtp_proxy.cpp) ----
  void handle_line(const std::string& line);
  void command(const core::smtp::Command& c, const std::string& line);
  void helo(const core::smtp::Command& c, bool extended);
  void starttls();
  void mail(const core::smtp::Command& c, const std::string& line);
  void rcpt(const core::smtp::Command& c, const std::string& line);
  void data();
  void routed(const mapping::LookupResult& r);
  void reset_transaction();
  void reply(int code, std::string_view enhanced, std::string_view text);
  // A refused command that counts towards errors.max_bad_commands.
  void error(const core::smtp::Reply& r);
  void close_with(std::string_view enhanced, std::string_view text, std::string_view reason);

  // ---- AUTH on submission (smtp_proxy_auth.cpp) ----
  bool auth_offered() const;
  void auth(const core::smtp::Command& c);
  void auth_line(const std::string& line);
  void login(std::string user, core::Secret password);
  void on_login(const Decision& d);
  void failed_login();

  // ---- the node (smtp_proxy_handoff.cpp) ----
  // Acts on one complete reply; false when the caller must stop reading.
  bool node_reply();
  void send_node_ehlo();
  void send_xclient();
  void after_client_ehlo();
  void finish_handoff(std::string_view client_reply);
  void refused_by_node(std::string_view client_reply);
  bool unexpected(std::string_view what);

  const bool submission_;
  std::string helo_;  // the client's EHLO/HELO name; empty until it says one
  bool esmtp_ = false;
  std::string mail_line_;  // MAIL as the client sent it; empty outside a transaction
  bool mail_smtputf8_ = false;
  std::string rcpt_line_;  // the routing RCPT, as sent
  std::string rcpt_address_;
  AuthStep auth_step_ = AuthStep::None;
  std::string auth_user_;  // AUTH LOGIN between its two steps; then the login name
  // Kept only when the node checks it (proxy.verify_credentials off).
  core::Secret password_;
  Hop hop_ = Hop::Greeting;
  SmtpReplyReader reader_;
  bool quitting_ = false;
};

}  // namespace postern::proxy
