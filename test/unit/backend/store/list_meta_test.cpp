#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "backend/store/store.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node::store;
using namespace postern::node::store::test;

namespace {

const std::string kListBody = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";

struct ListOpened {
  StoreFixture fixture;
  Store store{fixture.root()};
  std::shared_ptr<AccountStore> account = store.account("user@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  MailboxId sent = mailbox_id(*account, "Sent");

  Uid add(MailboxId mailbox, std::string structure, FlagBits flags = 0) {
    NewMessage m = fixture.message(kListBody, flags);
    m.meta.structure = std::move(structure);
    if (!m.meta.structure.empty()) m.meta.envelope = "(env)";
    return account->append(mailbox, m).value().uid;
  }
};

}  // namespace

TEST_CASE("store: list_meta gives every message's structure in uid order") {
  ListOpened o;
  CHECK(o.account->list_meta(o.inbox).value().empty());
  o.add(o.inbox, std::string("one\0bin", 7));
  o.add(o.inbox, "");  // no meta row: listed, with an empty structure
  o.add(o.inbox, "three", kFlagDeleted);
  o.add(o.inbox, "four");
  o.add(o.sent, "elsewhere");
  REQUIRE(o.account->expunge(o.inbox).value() == std::vector<Uid>{3});

  auto all = o.account->list_meta(o.inbox);
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].first == 1);
  CHECK((*all)[0].second.structure == std::string("one\0bin", 7));
  CHECK((*all)[1].first == 2);
  CHECK((*all)[1].second.structure.empty());
  CHECK((*all)[2].first == 4);
  CHECK((*all)[2].second.structure == "four");
  for (const auto& [uid, meta] : *all) {
    CHECK(meta.envelope.empty());  // only the structure is read
    CHECK(meta.extra.empty());
  }

  // A later set_meta shows; a copy carries its meta along.
  MessageMeta later;
  later.structure = "reparsed";
  REQUIRE(o.account->set_meta(o.inbox, 2, later).has_value());
  REQUIRE(o.account->copy(o.inbox, UidSet{UidRange{2, 2}}, o.sent).has_value());
  auto sent = o.account->list_meta(o.sent).value();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].second.structure == "elsewhere");
  CHECK(sent[1].second.structure == "reparsed");
  CHECK(o.account->list_meta(o.inbox).value()[1].second.structure == "reparsed");
}

TEST_CASE("store: list_meta of a missing or \\Noselect mailbox") {
  ListOpened o;
  CHECK(o.account->list_meta(987654).error() == StoreError::NoSuchMailbox);
  REQUIRE(o.account->create_mailbox("a/b").has_value());
  const MailboxId a = mailbox_id(*o.account, "a");
  REQUIRE(o.account->delete_mailbox("a").has_value());  // has inferiors: becomes \Noselect
  auto r = o.account->list_meta(a);
  CHECK_FALSE(r.has_value());
}
