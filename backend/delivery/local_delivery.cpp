#include "backend/delivery/local_delivery.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "backend/delivery/message_spool.hpp"
#include "core/log.hpp"

namespace postern::node::delivery {

namespace {

using Failure = std::pair<DeliveryError, std::string>;

tl::unexpected<Failure> failure(DeliveryError kind, std::string why) {
  return tl::unexpected(Failure{kind, std::move(why)});
}

tl::unexpected<Failure> store_failure(store::StoreError e, std::string_view what) {
  return failure(classify(e), fmt::format("{}: {}", what, store::store_error_name(e)));
}

// Appends the spooled message to `folder` (or INBOX) of `address`; the spool
// file is removed if the store did not take it.
DeliveryResult append_spooled(store::Store& store, const std::string& address,
                              const std::string& folder, MessageSpool& spool) {
  auto account = store.account(address);
  if (!account) {
    if (account.error() == store::StoreError::BadArgument)
      return failure(DeliveryError::UnknownMailbox,
                     fmt::format("no mailbox for \"{}\" in this store", address));
    return store_failure(account.error(), "opening the account");
  }
  auto message = spool.finish(MessageSpool::Durability::ByStore);  // append() syncs it
  if (!message) return failure(DeliveryError::Temporary, message.error());

  // A folder deleted between find_mailbox() and append() falls back too.
  DeliveryResult result = failure(DeliveryError::Temporary, "not attempted");
  for (const std::string& name :
       {folder.empty() ? std::string("INBOX") : folder, std::string("INBOX")}) {
    auto mailbox = (*account)->find_mailbox(name);
    if (!mailbox || !mailbox->selectable) continue;
    auto added = (*account)->append(mailbox->id, *message);
    if (added) {
      core::log_info("local_delivery")
          .kv("account", address)
          .kv("mailbox", mailbox->name)
          .kv("uid", added->uid)
          .kv("size", message->size)
          .kv("ok", 1);
      return *added;
    }
    result = store_failure(added.error(), "appending");
    if (added.error() != store::StoreError::NoSuchMailbox &&
        added.error() != store::StoreError::NotAllowed)
      break;
  }
  // On failure the store leaves the source as it was: ours to remove.
  ::unlink(message->source_path.c_str());
  core::log_warn("local_delivery")
      .kv("account", address)
      .kv("mailbox", folder)
      .kv("ok", 0)
      .kv("error", result.error().second);
  return result;
}

}  // namespace

DeliveryError classify(store::StoreError error) {
  switch (error) {
    case store::StoreError::NoSpace:
    case store::StoreError::Busy:
    case store::StoreError::Io:
    case store::StoreError::Corrupt:
      return DeliveryError::Temporary;
    case store::StoreError::NoSuchMailbox:
    case store::StoreError::NoSuchMessage:
    case store::StoreError::AlreadyExists:
    case store::StoreError::NotAllowed:
    case store::StoreError::BadArgument:
    case store::StoreError::Limit:
    case store::StoreError::QuotaExceeded:
      return DeliveryError::Permanent;
  }
  return DeliveryError::Temporary;
}

std::string spool_directory(const store::Store& store) {
  return store.root() + "/tmp";
}

DeliveryResult deliver_bytes(store::Store& store, const std::string& address,
                             const std::string& folder, std::string_view bytes) {
  auto spool = MessageSpool::create(spool_directory(store));
  if (!spool) return failure(DeliveryError::Temporary, spool.error());
  if (auto written = spool->write(bytes); !written)
    return failure(DeliveryError::Temporary, written.error());
  return append_spooled(store, address, folder, *spool);
}

DeliveryResult deliver_stream(store::Store& store, const std::string& address,
                              const std::string& folder, std::FILE* in) {
  auto spool = MessageSpool::create(spool_directory(store));
  if (!spool) return failure(DeliveryError::Temporary, spool.error());
  std::vector<char> buf(64 * 1024);
  for (;;) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), in);
    if (n > 0) {
      if (auto written = spool->write(std::string_view(buf.data(), n)); !written)
        return failure(DeliveryError::Temporary, written.error());
    }
    if (n < buf.size()) {
      if (std::ferror(in) != 0)
        return failure(DeliveryError::Temporary,
                       fmt::format("reading the message: {}", std::strerror(errno)));
      break;
    }
  }
  return append_spooled(store, address, folder, *spool);
}

}  // namespace postern::node::delivery
