#include "backend/queue/local_transport.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <vector>

#include "backend/delivery/local_delivery.hpp"
#include "backend/delivery/message_spool.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/store/group_commit.hpp"

namespace postern::node::queue {

namespace {

using Status = RecipientOutcome::Status;

LocalResult result(Status status, std::string reply) {
  LocalResult r;
  r.outcome.status = status;
  r.outcome.reply = std::move(reply);
  return r;
}

LocalResult store_failure(const std::string& address, store::StoreError e) {
  if (e == store::StoreError::QuotaExceeded)
    return result(Status::PermFail, fmt::format("552 5.2.2 <{}>: mailbox full", address));
  if (delivery::classify(e) == delivery::DeliveryError::Temporary)
    return result(Status::TempFail, fmt::format("451 4.3.0 <{}>: store error: {}", address,
                                                store::store_error_name(e)));
  return result(Status::PermFail, fmt::format("554 5.3.0 <{}>: store error: {}", address,
                                              store::store_error_name(e)));
}

}  // namespace

LocalResult deliver_to_store(store::Store& store, const LocalJob& job) {
  const std::string& address = job.recipient.address;
  if (::access(job.message_path.c_str(), F_OK) != 0) {
    auto r = result(Status::TempFail, "451 4.3.0 queue file missing");
    r.message_gone = true;
    return r;
  }
  auto account = store.account(address);
  if (!account) {
    if (account.error() == store::StoreError::BadArgument)
      return result(Status::PermFail,
                    fmt::format("550 5.1.1 <{}>: no such mailbox on this node", address));
    return store_failure(address, account.error());
  }
  store::NewMessage message;
  message.source_path = job.message_path;
  message.source_mode = store::SourceMode::Link;
  message.size = job.size;
  message.meta = job.meta;
  message.internal_date = store::InternalDate{job.arrival, 0};
  // The folder asked for, else INBOX; a folder deleted between the look-up
  // and the append falls back too.
  store::StoreError last = store::StoreError::NoSuchMailbox;
  std::vector<std::string> names;
  if (!job.recipient.mailbox.empty()) names.push_back(job.recipient.mailbox);
  names.push_back("INBOX");
  for (const std::string& name : names) {
    auto mailbox = (*account)->find_mailbox(name);
    if (!mailbox) {
      last = mailbox.error();
      continue;
    }
    if (!mailbox->selectable) continue;
    auto added = store::append_grouped(**account, mailbox->id, message);
    if (added) {
      return result(Status::Delivered, fmt::format("250 2.0.0 <{}> delivered to {} uid {}", address,
                                                   mailbox->name, added->uid));
    }
    last = added.error();
    if (last != store::StoreError::NoSuchMailbox && last != store::StoreError::NotAllowed) break;
  }
  return store_failure(address, last);
}

std::optional<store::MessageMeta> message_meta_from_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  mime::MessageParser parser;
  std::vector<char> buf(64 * 1024);
  bool ok = true;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    parser.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return delivery::meta_for(parser.finish());
}

}  // namespace postern::node::queue
