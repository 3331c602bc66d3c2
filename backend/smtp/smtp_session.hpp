// One SMTP session on a node (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
// ENHANCEDSTATUSCODES, DSN, SMTPUTF8, STARTTLS, AUTH PLAIN/LOGIN on
// submission listeners, and Postfix's XCLIENT from trusted proxies).
//
// One command at a time: while a command waits (the directory for a RCPT,
// SPF for a MAIL, the worker pool for the message), no further command is
// read, so pipelined commands are answered in order.
//
// DATA: the message is written into a queue::Incoming on the worker pool, a
// block at a time (at most kBlock bytes held), after our Received header.
// The 250 is sent only when Queue::commit() has made the message and its
// envelope durable.
//
// Ownership: as Pop3Session. The SmtpService owns sessions through
// shared_ptr; work sent elsewhere holds a weak_ptr. When the connection
// closes the session calls `ended` once; the owner destroys it later.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/node/login_check.hpp"
#include "backend/queue/queue.hpp"
#include "backend/smtp/data_reader.hpp"
#include "backend/smtp/header_scan.hpp"
#include "backend/smtp/smtp_context.hpp"
#include "backend/smtp/spf.hpp"
#include "core/connection.hpp"
#include "core/dns_resolver.hpp"
#include "core/event_loop.hpp"
#include "core/listener.hpp"
#include "core/smtp_command.hpp"

namespace postern::node::smtp {

class SmtpSession final : public core::Connection::Handler,
                          public std::enable_shared_from_this<SmtpSession> {
 public:
  using Ended = std::function<void(SmtpSession*)>;
  SmtpSession(SmtpContext& context, core::EventLoop& loop, core::DnsResolver& resolver,
              core::Accepted accepted, Ended ended);
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;
  ~SmtpSession() override;

  void start();
  // Ends the session after the current command (or message), with 421.
  void drain();
  void close(std::string_view reason);

  void on_input(core::Connection& c) noexcept override;
  void on_output_drained(core::Connection& c) noexcept override;
  void on_tls_ready(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

 private:
  // The mail transaction: MAIL ... RCPT ... DATA.
  struct Transaction {
    bool active = false;  // MAIL accepted
    std::string sender;   // "" = null sender
    std::uint64_t declared_size = 0;
    bool eight_bit = false;
    bool smtputf8 = false;
    std::string ret, envid;
    std::vector<queue::Recipient> recipients;
    std::string spf_header;  // Received-SPF line with CRLF, or ""
  };
  // The message being received; touched by one worker job at a time.
  struct Sink {
    std::unique_ptr<queue::Incoming> incoming;
    std::string error;  // the first failure; the rest of the data is skipped
    std::string id;     // the queue id, chosen at DATA for our Received header
  };
  enum class AuthStep { None, PlainResponse, LoginUser, LoginPassword };

  // Engine (smtp_session.cpp).
  void process_input();
  void handle_line(const std::string& line);
  void handle_command(const core::smtp::Command& command);
  void reply(int code, std::string_view enhanced, std::string_view text);
  void reply_raw(std::string_view lines);        // complete reply lines with CRLF
  void reply_error(const core::smtp::Reply& r);  // counts towards max_bad_commands
  void reply_and_close(int code, std::string_view enhanced, std::string_view text);
  void finish_command();
  void say_goodbye_draining();
  void log_close(std::string_view reason);
  void helo(const core::smtp::Command& c, bool extended);
  void reset_transaction();
  bool trusted_network() const;

  // STARTTLS, AUTH, XCLIENT (smtp_session_auth.cpp).
  void starttls();
  void auth(const core::smtp::Command& c);
  void auth_line(const std::string& line);
  bool auth_offered() const;
  void begin_login(std::string user, core::Secret password);
  void on_login(LoginResult result);
  void xclient(const core::smtp::Command& c);
  // The user (and their aliases: the senders they may use) after AUTH or XCLIENT LOGIN.
  void set_authenticated(const std::string& address, const std::vector<std::string>& aliases);

  // MAIL, RCPT, DATA (smtp_session_mail.cpp).
  void mail(const core::smtp::Command& c);
  void on_spf(SpfVerdict verdict);
  void mail_accepted();
  bool sender_allowed(const std::string& address) const;
  void rcpt(const core::smtp::Command& c);
  void data();
  void process_data();
  void write_block();
  void end_of_data();
  void commit_message();
  std::string trace_headers() const;

  template <class Job, class Done>
  bool run_blocking(Job job, Done done);

  SmtpContext& ctx_;
  core::EventLoop& loop_;
  core::DnsResolver& resolver_;
  const core::ListenerConfig& listener_;
  std::unique_ptr<core::FlowControl::Ticket> ticket_;
  Ended ended_;
  std::unique_ptr<core::Connection> conn_;
  std::string sid_;
  bool submission_ = false;

  // The client as we believe it: the socket's peer, or what a trusted
  // proxy's XCLIENT said.
  core::IpAddress client_ip_;
  std::string client_text_;  // for logs and Received
  std::string helo_;
  bool esmtp_ = false;

  core::smtp::LineCodec codec_;
  bool busy_ = false;
  bool quitting_ = false;
  bool draining_ = false;
  bool closed_ = false;
  std::string close_reason_;
  int bad_commands_ = 0;
  int failed_logins_ = 0;
  core::Timer delay_;  // failed-login pause
  std::string pending_reply_;

  AuthStep auth_step_ = AuthStep::None;
  std::string auth_login_user_;              // AUTH LOGIN: the user, waiting for the password
  std::string auth_user_;                    // after AUTH (or XCLIENT LOGIN)
  std::vector<std::string> auth_addresses_;  // the user's own addresses, lower-case

  Transaction tx_;
  std::uint64_t messages_ = 0;

  // SPF of the MAIL in progress: the request, and a deadline after which the
  // answer counts as temperror (a later one is dropped by its generation).
  std::optional<SpfRequest> spf_pending_;
  std::uint64_t spf_generation_ = 0;
  core::Timer spf_deadline_;

  // DATA phase.
  bool in_data_ = false;
  bool writing_ = false;  // a block is on the workers
  DataReader data_reader_;
  HeaderScanner header_scan_;
  std::string block_;  // message bytes not yet written
  std::uint64_t data_bytes_ = 0;
  bool too_big_ = false;
  std::shared_ptr<Sink> sink_;
};

template <class Job, class Done>
bool SmtpSession::run_blocking(Job job, Done done) {
  std::weak_ptr<SmtpSession> weak = weak_from_this();
  return ctx_.node.workers.run(std::move(job), loop_,
                               [weak, done = std::move(done)](auto result) mutable {
                                 auto self = weak.lock();
                                 if (!self || self->closed_) return;
                                 done(*self, std::move(result));
                               });
}

}  // namespace postern::node::smtp
