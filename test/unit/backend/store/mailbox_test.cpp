#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "backend/store/store.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node::store;
using namespace postern::node::store::test;

namespace {

std::map<std::string, MailboxInfo> by_name(AccountStore& account) {
  auto list = account.list_mailboxes();
  REQUIRE(list.has_value());
  std::map<std::string, MailboxInfo> out;
  for (MailboxInfo& m : *list) out.emplace(m.name, m);
  return out;
}

}  // namespace

TEST_CASE("store: a new account has the six default mailboxes with SPECIAL-USE") {
  StoreFixture f;
  Store store(f.root());
  auto account = store.account("Alice@Example.com");
  REQUIRE(account.has_value());
  CHECK((*account)->directory() == f.root() + "/example.com/alice");
  auto boxes = by_name(**account);
  REQUIRE(boxes.size() == 6);
  CHECK(boxes.at("INBOX").special_use.empty());
  CHECK(boxes.at("Sent").special_use == "\\Sent");
  CHECK(boxes.at("Drafts").special_use == "\\Drafts");
  CHECK(boxes.at("Trash").special_use == "\\Trash");
  CHECK(boxes.at("Junk").special_use == "\\Junk");
  CHECK(boxes.at("Archive").special_use == "\\Archive");
  for (const auto& entry : boxes) {
    CAPTURE(entry.first);
    CHECK(entry.second.subscribed);
    CHECK(entry.second.selectable);
    CHECK_FALSE(entry.second.has_children);
  }
  // UIDVALIDITY is unique per mailbox and increasing in creation order.
  CHECK(boxes.at("INBOX").uidvalidity < boxes.at("Sent").uidvalidity);
  CHECK(boxes.at("Junk").uidvalidity < boxes.at("Archive").uidvalidity);
  // The same account, however it is spelled, is one shared object.
  auto again = store.account("alice@example.com");
  REQUIRE(again.has_value());
  CHECK(again->get() == account->get());
}

TEST_CASE("store: CREATE makes intermediate mailboxes, refuses duplicates and INBOX") {
  StoreFixture f;
  Store store(f.root());
  auto account = store.account("bob@example.com").value();
  auto created = account->create_mailbox("Work/2024/Q1/");
  REQUIRE(created.has_value());
  CHECK(created->name == "Work/2024/Q1");
  auto boxes = by_name(*account);
  CHECK(boxes.at("Work").selectable);
  CHECK(boxes.at("Work").has_children);
  CHECK(boxes.at("Work/2024").selectable);
  CHECK_FALSE(boxes.at("Work/2024/Q1").has_children);
  CHECK(account->create_mailbox("Work").error() == StoreError::AlreadyExists);
  CHECK(account->create_mailbox("inbox").error() == StoreError::AlreadyExists);
  CHECK(account->create_mailbox("a//b").error() == StoreError::BadArgument);
  CHECK(account->create_mailbox("INBOX/Sub").has_value());
  CHECK(account->find_mailbox("inbox/Sub").has_value());
  CHECK(account->find_mailbox("Nope").error() == StoreError::NoSuchMailbox);
}

TEST_CASE("store: DELETE follows RFC 3501 (INBOX, inferiors, \\Noselect)") {
  StoreFixture f;
  Store store(f.root());
  auto account = store.account("carol@example.com").value();
  CHECK(account->delete_mailbox("INBOX").error() == StoreError::NotAllowed);
  CHECK(account->delete_mailbox("Missing").error() == StoreError::NoSuchMailbox);
  REQUIRE(account->create_mailbox("P/C").has_value());
  MailboxId parent = mailbox_id(*account, "P");
  REQUIRE(account->append(parent, f.message("Subject: x\r\n\r\nbody\r\n")).has_value());

  // With an inferior: the parent loses its messages and becomes \Noselect.
  REQUIRE(account->delete_mailbox("P").has_value());
  auto boxes = by_name(*account);
  REQUIRE(boxes.count("P") == 1);
  CHECK_FALSE(boxes.at("P").selectable);
  CHECK(boxes.at("P").has_children);
  CHECK(message_files(account->directory()).empty());
  CHECK(account->status(parent).error() == StoreError::NoSuchMailbox);
  CHECK(account->status(boxes.at("P").id).error() == StoreError::NotAllowed);
  // A \Noselect mailbox with inferiors cannot be deleted.
  CHECK(account->delete_mailbox("P").error() == StoreError::NotAllowed);
  // Deleting the last inferior takes the \Noselect placeholder with it.
  REQUIRE(account->delete_mailbox("P/C").has_value());
  boxes = by_name(*account);
  CHECK(boxes.count("P") == 0);
  CHECK(boxes.count("P/C") == 0);

  // CREATE over a \Noselect name makes it a real mailbox again.
  REQUIRE(account->create_mailbox("Q/R").has_value());
  REQUIRE(account->delete_mailbox("Q").has_value());
  auto recreated = account->create_mailbox("Q");
  REQUIRE(recreated.has_value());
  CHECK(recreated->selectable);
  // Subscriptions survive deletion (RFC 3501 SUBSCRIBE).
  REQUIRE(account->delete_mailbox("Junk").has_value());
  auto subs = account->subscriptions().value();
  CHECK(std::find(subs.begin(), subs.end(), "Junk") != subs.end());
}

TEST_CASE("store: RENAME moves inferiors and subscriptions, keeps ids; INBOX is special") {
  StoreFixture f;
  Store store(f.root());
  auto account = store.account("dave@example.com").value();
  REQUIRE(account->create_mailbox("A/B").has_value());
  REQUIRE(account->subscribe("A/B").has_value());
  auto a = account->find_mailbox("A").value();
  auto ab = account->find_mailbox("A/B").value();
  CHECK(account->rename_mailbox("A", "A/B/C").error() == StoreError::NotAllowed);
  CHECK(account->rename_mailbox("A", "Sent").error() == StoreError::AlreadyExists);
  CHECK(account->rename_mailbox("A", "inbox").error() == StoreError::AlreadyExists);
  CHECK(account->rename_mailbox("Zzz", "Y").error() == StoreError::NoSuchMailbox);
  REQUIRE(account->rename_mailbox("A", "X/Y").has_value());
  auto boxes = by_name(*account);
  CHECK(boxes.count("A") == 0);
  CHECK(boxes.count("A/B") == 0);
  CHECK(boxes.at("X").selectable);  // created as an ancestor
  CHECK(boxes.at("X/Y").id == a.id);
  CHECK(boxes.at("X/Y").uidvalidity == a.uidvalidity);
  CHECK(boxes.at("X/Y/B").id == ab.id);
  CHECK(boxes.at("X/Y/B").subscribed);

  // RENAME INBOX: the messages move to a new mailbox, INBOX stays, empty.
  MailboxId inbox = mailbox_id(*account, "INBOX");
  REQUIRE(account->create_mailbox("INBOX/Kid").has_value());
  REQUIRE(account->append(inbox, f.message("one\r\n", kFlagSeen, {"Work"})).has_value());
  REQUIRE(account->append(inbox, f.message("two\r\n")).has_value());
  REQUIRE(account->rename_mailbox("INBOX", "Old").has_value());
  CHECK(account->status(inbox).value().messages == 0);
  MailboxId old = mailbox_id(*account, "Old");
  auto moved = account->list(old).value();
  REQUIRE(moved.messages.size() == 2);
  CHECK(moved.messages[0].uid == 1);
  CHECK(moved.messages[0].flags == kFlagSeen);
  REQUIRE(!moved.keyword_names.empty());
  CHECK(moved.keyword_names[0] == "Work");
  CHECK(moved.messages[0].keywords == 1);
  CHECK(account->find_mailbox("INBOX/Kid").has_value());
  CHECK(account->changes_since(inbox, 0).value().expunged == std::vector<Uid>{1, 2});
}

TEST_CASE("store: SUBSCRIBE / UNSUBSCRIBE / LSUB") {
  StoreFixture f;
  Store store(f.root());
  auto account = store.account("erin@example.com").value();
  REQUIRE(account->subscribe("Not/There").has_value());  // any valid name
  REQUIRE(account->unsubscribe("Trash").has_value());
  auto subs = account->subscriptions().value();
  CHECK(std::find(subs.begin(), subs.end(), "Not/There") != subs.end());
  CHECK(std::find(subs.begin(), subs.end(), "Trash") == subs.end());
  CHECK_FALSE(by_name(*account).at("Trash").subscribed);
  CHECK(account->subscribe("bad*name").error() == StoreError::BadArgument);
}

TEST_CASE("store: UIDVALIDITY and UIDNEXT survive close and reopen") {
  StoreFixture f;
  MailboxStatus before;
  std::uint32_t work_validity = 0;
  {
    Store store(f.root());
    auto account = store.account("frank@example.com").value();
    MailboxId inbox = mailbox_id(*account, "INBOX");
    for (int i = 0; i < 3; ++i) REQUIRE(account->append(inbox, f.message("m\r\n")).has_value());
    REQUIRE(account->expunge(inbox).has_value());
    REQUIRE(account->store_flags(inbox, {{3, 3}}, FlagMode::Add, kFlagDeleted, {}).has_value());
    REQUIRE(account->expunge(inbox).value() == std::vector<Uid>{3});
    before = account->status(inbox).value();
    work_validity = account->create_mailbox("Work").value().uidvalidity;
  }
  Store store(f.root());
  auto account = store.account("frank@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  auto after = account->status(inbox).value();
  CHECK(after.uidvalidity == before.uidvalidity);
  CHECK(after.uidnext == 4);  // an expunged uid is never reused
  CHECK(after.uidnext == before.uidnext);
  CHECK(after.highest_modseq == before.highest_modseq);
  CHECK(after.messages == 2);
  auto next = account->append(inbox, f.message("m\r\n")).value();
  CHECK(next.uid == 4);
  CHECK(next.uidvalidity == before.uidvalidity);
  // A new incarnation of a name gets a larger UIDVALIDITY.
  REQUIRE(account->delete_mailbox("Work").has_value());
  CHECK(account->create_mailbox("Work").value().uidvalidity > work_validity);
}
