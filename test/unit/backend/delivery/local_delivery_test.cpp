#include "backend/delivery/local_delivery.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "backend/mime/structure_codec.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node;
using namespace postern::node::store::test;
using delivery::DeliveryError;

namespace {

const std::string kMessage = "From: a@example.com\nSubject: hi\n\nhello\n";

struct Delivery {
  StoreFixture fixture;
  store::Store store{fixture.root()};

  store::MessageList list(const std::string& mailbox) {
    auto account = store.account("alice@example.com").value();
    return account->list(mailbox_id(*account, mailbox)).value();
  }
};

}  // namespace

TEST_CASE("deliver_bytes: lands in the folder, CRLF, with meta") {
  Delivery d;
  auto added = delivery::deliver_bytes(d.store, "alice@example.com", "Archive", kMessage);
  REQUIRE(added.has_value());
  CHECK(added->uid == 1);
  auto list = d.list("Archive");
  REQUIRE(list.messages.size() == 1);
  CHECK(list.messages[0].size == kMessage.size() + 4);  // four LFs became CRLF
  CHECK(d.list("INBOX").messages.empty());

  auto account = d.store.account("alice@example.com").value();
  auto id = mailbox_id(*account, "Archive");
  auto file = account->open_message(id, 1).value();
  CHECK(read_fd(file.fd.get()) == "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n");
  auto meta = account->meta(id, 1).value();
  CHECK(mime::deserialize(meta.structure).has_value());
  CHECK(meta.envelope.find("\"hi\"") != std::string::npos);
  // Nothing left behind in the spool folder.
  CHECK(fs::is_empty(delivery::spool_directory(d.store)));
}

TEST_CASE("deliver_bytes: a missing, empty or \\Noselect folder falls back to INBOX") {
  Delivery d;
  REQUIRE(delivery::deliver_bytes(d.store, "alice@example.com", "No/Such", kMessage));
  REQUIRE(delivery::deliver_bytes(d.store, "alice@example.com", "", kMessage));
  auto account = d.store.account("alice@example.com").value();
  REQUIRE(account->create_mailbox("Parent/Child"));
  REQUIRE(account->delete_mailbox("Parent"));  // has an inferior: becomes \Noselect
  REQUIRE_FALSE(account->find_mailbox("Parent")->selectable);
  REQUIRE(delivery::deliver_bytes(d.store, "alice@example.com", "Parent", kMessage));
  CHECK(uids_of(d.list("INBOX")) == std::vector<store::Uid>{1, 2, 3});
}

TEST_CASE("deliver_bytes: an address the store refuses is UnknownMailbox") {
  Delivery d;
  auto r = delivery::deliver_bytes(d.store, "no-at-sign", "INBOX", kMessage);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().first == DeliveryError::UnknownMailbox);
  CHECK(fs::is_empty(delivery::spool_directory(d.store)));
}

TEST_CASE("deliver_bytes: quota exceeded is permanent, the spool file is removed") {
  StoreFixture fixture;
  store::Store store(fixture.root(), store::StoreOptions{10});
  auto r = delivery::deliver_bytes(store, "alice@example.com", "INBOX", kMessage);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().first == DeliveryError::Permanent);
  CHECK(r.error().second.find("quota") != std::string::npos);
  CHECK(fs::is_empty(delivery::spool_directory(store)));
}

TEST_CASE("deliver_bytes: a store root that does not exist is temporary") {
  store::Store store("/nonexistent-postern-store");
  auto r = delivery::deliver_bytes(store, "alice@example.com", "INBOX", kMessage);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().first == DeliveryError::Temporary);
}

TEST_CASE("deliver_stream: reads to end of file") {
  Delivery d;
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  std::string big = kMessage + std::string(200'000, 'x') + "\n";
  REQUIRE(std::fwrite(big.data(), 1, big.size(), f) == big.size());
  std::rewind(f);
  auto added = delivery::deliver_stream(d.store, "alice@example.com", "INBOX", f);
  std::fclose(f);
  REQUIRE(added.has_value());
  CHECK(d.list("INBOX").messages.at(0).size == big.size() + 5);
}
