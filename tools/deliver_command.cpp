#include "tools/deliver_command.hpp"

#include <fmt/format.h>

#include <ostream>

#include "backend/delivery/local_delivery.hpp"
#include "backend/store/store.hpp"
#include "core/event_loop.hpp"
#include "mapping/blocking.hpp"
#include "mapping/make_directory.hpp"
#include "tools/exit_codes.hpp"

namespace postern::tools {

namespace {

using node::delivery::DeliveryError;

int exit_code(DeliveryError e) {
  switch (e) {
    case DeliveryError::UnknownMailbox:
      return kExitNoUser;
    case DeliveryError::Temporary:
      return kExitTempFail;
    case DeliveryError::Permanent:
      return kExitNoPerm;
  }
  return kExitSoftware;
}

}  // namespace

int run_deliver(const node::NodeConfig& config, const std::string& address,
                const std::string& folder, std::FILE* in, std::ostream& err) {
  mapping::Account account;
  {
    core::EventLoop loop;
    auto directory = mapping::make_directory(config.directory);
    auto r = mapping::lookup_blocking(*directory, loop, address);
    switch (r.status) {
      case mapping::LookupStatus::Found:
        account = std::move(r.account);
        break;
      case mapping::LookupStatus::NotFound:
        err << fmt::format("posternctl: deliver: {}: no such account ({})\n", address, r.detail);
        return kExitNoUser;
      case mapping::LookupStatus::TempFail:
        err << fmt::format("posternctl: deliver: {}: temporary failure: {}\n", address, r.detail);
        return kExitTempFail;
    }
  }
  // Mail for another node's account would land where its owner never looks.
  if (account.node != config.name) {
    if (account.state == mapping::AccountState::Moving) {
      err << fmt::format("posternctl: deliver: {}: moving to node {}, try again later\n",
                         account.address, account.node);
      return kExitTempFail;
    }
    err << fmt::format("posternctl: deliver: {}: lives on node {}, not on this node ({})\n",
                       account.address, account.node.empty() ? "(none)" : account.node,
                       config.name);
    return kExitNoUser;
  }
  node::store::StoreOptions options;
  options.quota_bytes = account.quota_bytes.value_or(0);
  options.sync_mode = config.store_sync;
  node::store::Store store(config.store_path, options);
  auto added = node::delivery::deliver_stream(store, account.address, folder, in);
  if (!added) {
    err << fmt::format("posternctl: deliver: {}: {}\n", account.address, added.error().second);
    return exit_code(added.error().first);
  }
  return kExitOk;
}

}  // namespace postern::tools
