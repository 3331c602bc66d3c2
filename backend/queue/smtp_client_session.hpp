// One outgoing SMTP connection (RFC 5321 client): connect, greeting,
// EHLO (HELO when EHLO gets a 5xx), opportunistic STARTTLS, then one
// transaction at a time (MAIL, RCPT..., DATA with the message streamed from
// disk through the WorkerPool), RSET before each reuse, QUIT at the end.
//
// Ownership: held by shared_ptr (SmtpTransport's attempts and idle pool).
// Completion callbacks are posted to the loop, never run inline nor inside a
// Connection callback, so the owner may drop the session from them. Nothing
// runs after the last owner is gone (weak_ptr in every pending completion).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/queue/dot_stuffer.hpp"
#include "backend/queue/remote_transport.hpp"
#include "backend/queue/smtp_reply.hpp"
#include "core/connection.hpp"
#include "core/worker_pool.hpp"

namespace postern::node::queue {

struct SmtpTarget {
  std::string host;  // for "host [ip]" and, when `sni`, the TLS server name
  core::IpAddress ip;
  std::uint16_t port = 25;
  bool sni = false;
};

struct SmtpSessionSettings {
  std::string helo_name = "localhost";
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds command_timeout{300'000};
  std::shared_ptr<core::TlsContext> tls;  // null: never STARTTLS
};

struct SmtpOpenResult {
  bool ok = false;
  bool tls_failed = false;  // the STARTTLS handshake failed: retry without TLS
  bool answered = false;    // a server replied (`reply` quotes it)
  bool permanent = false;   // it said 5xx to the greeting or EHLO/HELO
  std::string reply;        // the server's reply or ours ("451 4.4.1 ...")
};

// A piece of the message file, read on a worker.
struct SmtpMessageChunk {
  std::string data;
  bool eof = false;
  std::string error;  // the file could not be read
};

// Reads up to 256 KB of `path` from `offset` (blocking: on a worker).
SmtpMessageChunk read_message_chunk(const std::string& path, std::uint64_t offset);
// 2xx: Delivered, 5xx: PermFail, anything else: TempFail.
RecipientOutcome::Status status_of_reply(const SmtpReply& reply);

struct SmtpTransactionResult {
  std::vector<RecipientOutcome> outcomes;  // one per recipient, in order
  // A reused connection failed before MAIL (RSET unanswered, closed): nothing
  // was attempted; the caller tries again on a fresh connection.
  bool stale = false;
};

class SmtpClientSession final : public core::Connection::Handler,
                                public std::enable_shared_from_this<SmtpClientSession> {
 public:
  static std::shared_ptr<SmtpClientSession> create(core::EventLoop& loop, core::WorkerPool& workers,
                                                   SmtpSessionSettings settings, SmtpTarget target);
  SmtpClientSession(core::EventLoop& loop, core::WorkerPool& workers, SmtpSessionSettings settings,
                    SmtpTarget target);
  ~SmtpClientSession() override;

  // Connects and greets (EHLO, STARTTLS when offered and allowed). Once.
  void open(bool use_tls, std::function<void(SmtpOpenResult)> done);
  // One transaction; only after a successful open() and while idle().
  void transact(const RemoteDelivery& delivery, std::function<void(SmtpTransactionResult)> done);
  // Open, between transactions, connection alive: may take a transaction.
  bool idle() const;
  // Called (posted) if the connection closes while idle().
  void set_on_idle_closed(std::function<void()> cb) { on_idle_closed_ = std::move(cb); }
  // Sends QUIT and closes after the flush; `on_gone` (posted) once closed.
  void quit(std::function<void()> on_gone);
  // "mx.example.org [192.0.2.1]"
  std::string remote_mta() const;
  bool tls_active() const { return conn_ != nullptr && conn_->tls_active(); }

  void on_input(core::Connection& c) noexcept override;
  void on_output_drained(core::Connection& c) noexcept override;
  void on_tls_ready(core::Connection& c) noexcept override;
  void on_closed(core::Connection& c, core::CloseReason reason) noexcept override;

 private:
  enum class Step {
    New,
    Connecting,
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Handshake,
    Ehlo2,
    Idle,
    Rset,
    Mail,
    Rcpt,
    Data,
    Body,
    Dot,
    Quit,
    Closed,
  };
  void enter(Step next);
  void send(const std::string& line);
  void on_connected(int fd, const std::string& error);
  void on_reply(SmtpReply reply);
  void on_open_reply(const SmtpReply& reply);
  void on_transaction_reply(const SmtpReply& reply);
  void open_failed(SmtpOpenResult result, bool say_quit);
  void open_done();
  void protocol_error(const std::string& why);
  void begin_mail();
  std::string mail_command() const;
  std::string rcpt_command(const Recipient& r) const;
  void after_recipients();
  void read_chunk();
  void on_chunk(SmtpMessageChunk chunk);
  void fail_open_recipients(RecipientOutcome::Status status, const std::string& reply);
  void finish_transaction(bool stale);
  void connection_lost(const std::string& why);
  void set_outcome(std::size_t i, const SmtpReply& reply);

  core::EventLoop& loop_;
  core::WorkerPool& workers_;
  SmtpSessionSettings settings_;
  SmtpTarget target_;
  Step step_ = Step::New;
  std::unique_ptr<core::PendingConnect> connecting_;
  std::unique_ptr<core::Connection> conn_;
  ReplyParser parser_;
  SmtpExtensions ext_;
  bool use_tls_ = false;
  bool used_ = false;  // a transaction ran: RSET before the next
  core::Timer retry_;  // the worker queue was full: read the chunk again soon

  std::function<void(SmtpOpenResult)> open_done_;
  std::function<void(SmtpTransactionResult)> tx_done_;
  std::function<void()> on_idle_closed_;
  std::function<void()> on_gone_;

  // The transaction in progress.
  RemoteDelivery delivery_;
  std::vector<RecipientOutcome> outcomes_;
  std::vector<bool> final_;      // outcome decided
  std::vector<bool> accepted_;   // RCPT got 2xx, waiting for the DATA result
  std::size_t replies_due_ = 0;  // RCPT replies still to read
  std::size_t rcpt_sent_ = 0;
  std::size_t rcpt_replied_ = 0;
  std::optional<SmtpReply> mail_rejected_;
  DotStuffer stuffer_;
  std::uint64_t offset_ = 0;
  bool waiting_drain_ = false;
  bool reading_chunk_ = false;
};

}  // namespace postern::node::queue
