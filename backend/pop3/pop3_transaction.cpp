// The TRANSACTION and UPDATE states of a POP3 session (RFC 1939 sections 5
// and 6): the maildrop as snapshotted at login, RETR and TOP streamed from the
// message file, and QUIT applying the session's marks to the store.
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "backend/pop3/pop3_session.hpp"
#include "core/log.hpp"

namespace postern::node::pop3 {

namespace {

// A RETR reads this much per worker job, and asks for the next chunk only
// while less than kStreamHighWater waits in the connection's output, so a
// 50 MB message costs a few hundred KiB per session however slow the reader.
constexpr std::size_t kChunkBytes = 64 * 1024;
constexpr std::size_t kStreamHighWater = 128 * 1024;

struct Chunk {
  std::string bytes;       // stuffed, ready to send
  std::uint64_t read = 0;  // file bytes consumed
  bool last = false;
  bool failed = false;
};

struct UpdateResult {
  bool ok = false;
  store::StoreError error = store::StoreError::Io;
  std::size_t removed = 0;
};

}  // namespace

void Pop3Session::transaction(const CheckedCommand& c) {
  switch (c.verb) {
    case Verb::Stat:
      reply(fmt::format("+OK {} {}", maildrop_.live_count(), maildrop_.live_octets()));
      return;
    case Verb::List:
      list(c, false);
      return;
    case Verb::Uidl:
      list(c, true);
      return;
    case Verb::Retr:
    case Verb::Top:
      retrieve(c);
      return;
    case Verb::Dele: {
      auto m = maildrop_.find(c.message);
      if (!m) {
        reply(fmt::format("-ERR {}", message_error_text(m.error())));
        return;
      }
      (*m)->deleted = true;
      reply(fmt::format("+OK Message {} deleted", c.message));
      return;
    }
    case Verb::Noop:
      reply("+OK");
      return;
    case Verb::Rset:
      maildrop_.reset_deletions();
      reply(fmt::format("+OK Maildrop has {} messages ({} octets)", maildrop_.live_count(),
                        maildrop_.live_octets()));
      return;
    default:
      bad_command("Command not valid in this state");
      return;
  }
}

void Pop3Session::list(const CheckedCommand& c, bool uidl) {
  auto line = [&](std::uint32_t n) {
    return uidl ? fmt::format("{} {}", n, maildrop_.unique_id(n))
                : fmt::format("{} {}", n, maildrop_.at(n).size);
  };
  if (c.message != 0) {
    auto m = maildrop_.find(c.message);
    if (!m) {
      reply(fmt::format("-ERR {}", message_error_text(m.error())));
      return;
    }
    reply("+OK " + line(c.message));
    return;
  }
  std::string out = uidl ? "+OK Unique-ID listing follows\r\n"
                         : fmt::format("+OK {} messages ({} octets)\r\n", maildrop_.live_count(),
                                       maildrop_.live_octets());
  for (std::uint32_t n = 1; n <= maildrop_.size(); ++n) {
    if (maildrop_.at(n).deleted) continue;
    out += line(n);
    out += "\r\n";
  }
  out += ".\r\n";
  this->out(out);
}

void Pop3Session::retrieve(const CheckedCommand& c) {
  auto m = maildrop_.find(c.message);
  if (!m) {
    reply(fmt::format("-ERR {}", message_error_text(m.error())));
    return;
  }
  const bool top = c.verb == Verb::Top;
  const store::Uid uid = (*m)->uid;
  const std::uint64_t size = (*m)->size;
  if (!top) (*m)->retrieved = true;  // \Seen at UPDATE, as Dovecot does
  busy_ = true;
  stream_ = std::make_unique<Stream>();
  stream_->stuffer = std::make_shared<DotStuffer>(top ? std::optional(c.lines) : std::nullopt);
  auto account = account_;
  const store::MailboxId mailbox = maildrop_.mailbox();
  const bool queued = run_blocking(
      [account, mailbox, uid]() -> store::StoreResult<std::shared_ptr<store::MessageFile>> {
        auto file = account->open_message(mailbox, uid);
        if (!file) return tl::unexpected(file.error());
        return std::make_shared<store::MessageFile>(std::move(*file));
      },
      [top, size](Pop3Session& s, store::StoreResult<std::shared_ptr<store::MessageFile>> file) {
        if (!s.stream_) return;
        if (!file) {
          s.stream_.reset();
          // Expunged by another client (IMAP) since login.
          s.reply(file.error() == store::StoreError::NoSuchMessage
                      ? "-ERR Message was removed by another session"
                      : "-ERR [SYS/TEMP] Unable to read the message; try again later");
          s.finish_command();
          return;
        }
        s.stream_->file = std::move(*file);
        if (top) {
          ++s.top_count_;
          s.reply("+OK Top of message follows");
        } else {
          ++s.retr_count_;
          s.retr_bytes_ += size;
          s.ctx_.metrics.retrieved(size);
          s.reply(fmt::format("+OK {} octets", size));
        }
        s.pump_stream();
      });
  if (!queued) {
    stream_.reset();
    reply("-ERR [SYS/TEMP] Server busy; try again later");
    finish_command();
  }
}

void Pop3Session::on_output_drained(core::Connection&) noexcept {
  if (closed_) return;
  if (stream_) {
    pump_stream();
  } else {
    process_input();  // may have stopped at kReplyHighWater
  }
}

void Pop3Session::pump_stream() {
  if (!stream_ || stream_->reading || closed_) return;
  if (conn_->output_pending() >= kStreamHighWater) return;  // on_output_drained resumes
  stream_->reading = true;
  auto file = stream_->file;
  auto stuffer = stream_->stuffer;
  const std::uint64_t offset = stream_->offset;
  const bool queued = run_blocking(
      [file, stuffer, offset] {
        Chunk out;
        std::string buf(kChunkBytes, '\0');
        ssize_t n;
        do {
          n = ::pread(file->fd.get(), buf.data(), buf.size(), static_cast<off_t>(offset));
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
          out.failed = true;
          return out;
        }
        buf.resize(static_cast<std::size_t>(n));
        out.bytes.reserve(buf.size() + buf.size() / 8);
        stuffer->feed(buf, out.bytes);
        out.read = static_cast<std::uint64_t>(n);
        out.last = n == 0 || offset + out.read >= file->size || stuffer->done();
        if (out.last) stuffer->finish(out.bytes);
        return out;
      },
      [](Pop3Session& s, Chunk chunk) {
        s.on_chunk(std::move(chunk.bytes), chunk.read, chunk.last, chunk.failed);
      });
  if (!queued) {
    // Half a multi-line reply is out: the only honest end is to close.
    close_reason_ = "server_busy";
    conn_->close();
  }
}

void Pop3Session::on_chunk(std::string bytes, std::uint64_t read, bool last, bool failed) {
  if (!stream_) return;
  stream_->reading = false;
  if (failed) {
    core::log_error("pop3_read").kv("sid", sid_).kv("user", address_).kv("ok", 0);
    close_reason_ = "read_error";
    conn_->close();
    return;
  }
  // A stream is never held: its flow control waits for the connection's
  // output to drain.
  release_output();
  conn_->write(bytes);
  stream_->offset += read;
  if (last) {
    stream_.reset();
    finish_command();
    return;
  }
  pump_stream();
}

void Pop3Session::update() {
  close_reason_ = "quit";
  const store::UidSet deleted = maildrop_.deleted_uids();
  const store::UidSet seen = maildrop_.seen_uids();
  const std::size_t marked = maildrop_.deleted_count();
  if (deleted.empty() && seen.empty()) {
    lock_.reset();  // before the reply: the client may log in again at once
    reply_and_close("+OK Logging out.");
    return;
  }
  busy_ = true;
  quitting_ = true;
  auto account = account_;
  auto lock = std::move(lock_);  // held until the store has the changes
  const store::MailboxId mailbox = maildrop_.mailbox();
  const std::string sid = sid_;
  const bool queued = run_blocking(
      [account, lock, mailbox, deleted, seen, sid]() mutable {
        UpdateResult r;
        if (!seen.empty()) {
          auto f = account->store_flags(mailbox, seen, store::FlagMode::Add, store::kFlagSeen, {});
          if (!f)
            core::log_warn("pop3_update")
                .kv("sid", sid)
                .kv("step", "seen")
                .kv("error", store::store_error_name(f.error()));
        }
        if (!deleted.empty()) {
          auto f =
              account->store_flags(mailbox, deleted, store::FlagMode::Add, store::kFlagDeleted, {});
          if (!f) {
            r.error = f.error();
            return r;
          }
          auto gone = account->expunge(mailbox, deleted);
          if (!gone) {
            r.error = gone.error();
            return r;
          }
          r.removed = gone->size();
        }
        r.ok = true;
        lock.reset();  // before the reply reaches the client
        return r;
      },
      [marked](Pop3Session& s, UpdateResult r) {
        if (!r.ok) {
          core::log_error("pop3_update")
              .kv("sid", s.sid_)
              .kv("user", s.address_)
              .kv("ok", 0)
              .kv("error", store::store_error_name(r.error));
          s.out("-ERR [SYS/TEMP] Some deleted messages were not removed\r\n");
        } else {
          s.deleted_at_quit_ = r.removed;
          s.out(fmt::format("+OK Logging out ({} messages deleted).\r\n", marked));
        }
        s.release_output();
        s.conn_->close_after_flush();
      });
  if (!queued) {
    reply("-ERR [SYS/TEMP] Some deleted messages were not removed");
    release_output();
    conn_->close_after_flush();
  }
}

}  // namespace postern::node::pop3
