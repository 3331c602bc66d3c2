// Several processes on one account: the node, posternctl deliver and (later)
// the SMTP queue each open it with their own SQLite connection. Two Store
// objects stand for two processes here (separate connections and locks), and
// one test forks a real second process.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "backend/store/store.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node::store;
using namespace postern::node::store::test;

namespace {

constexpr const char* kAddress = "shared@example.com";

struct TwoProcesses {
  StoreFixture fixture;
  Store store_a{fixture.root()};
  Store store_b{fixture.root()};
  std::shared_ptr<AccountStore> a = store_a.account(kAddress).value();
  std::shared_ptr<AccountStore> b = store_b.account(kAddress).value();
  MailboxId inbox = mailbox_id(*a, "INBOX");
};

}  // namespace

TEST_CASE("store shared: two connections append concurrently, distinct UIDs, both see all") {
  TwoProcesses p;
  REQUIRE(p.a.get() != p.b.get());  // really two connections
  REQUIRE(mailbox_id(*p.b, "INBOX") == p.inbox);
  constexpr int kEach = 40;
  // Messages are written before the threads start: the fixture is not thread-safe.
  std::vector<NewMessage> for_a, for_b;
  for (int i = 0; i < kEach; ++i) {
    for_a.push_back(p.fixture.message("a" + std::to_string(i) + "\r\n", 0, {"FromA"}));
    for_b.push_back(p.fixture.message("b" + std::to_string(i) + "\r\n", 0, {"FromB"}));
  }
  std::vector<Uid> uids_a, uids_b;
  int failures = 0;
  std::mutex failures_mutex;
  auto run = [&](AccountStore& account, const std::vector<NewMessage>& messages,
                 std::vector<Uid>& uids) {
    for (const NewMessage& m : messages) {
      auto added = account.append(p.inbox, m);
      if (!added) {
        std::lock_guard lock(failures_mutex);
        ++failures;
        continue;
      }
      uids.push_back(added->uid);
    }
  };
  std::thread ta(run, std::ref(*p.a), std::cref(for_a), std::ref(uids_a));
  std::thread tb(run, std::ref(*p.b), std::cref(for_b), std::ref(uids_b));
  ta.join();
  tb.join();
  CHECK(failures == 0);

  std::set<Uid> all(uids_a.begin(), uids_a.end());
  all.insert(uids_b.begin(), uids_b.end());
  CHECK(all.size() == 2 * kEach);
  CHECK(*all.rbegin() == 2 * kEach);
  for (AccountStore* account : {p.a.get(), p.b.get()}) {
    auto list = account->list(p.inbox).value();
    CHECK(list.messages.size() == 2 * kEach);
    CHECK(account->status(p.inbox).value().uidnext == 2 * kEach + 1);
    // Both keywords, whichever connection added each, with the right bits.
    REQUIRE(list.keyword_names.size() == 2);
    for (const MessageInfo& m : list.messages) {
      bool from_a = std::find(uids_a.begin(), uids_a.end(), m.uid) != uids_a.end();
      auto bit = std::find(list.keyword_names.begin(), list.keyword_names.end(),
                           from_a ? "FromA" : "FromB") -
                 list.keyword_names.begin();
      CHECK(m.keywords == (std::uint64_t{1} << bit));
      CHECK(read_fd(account->open_message(p.inbox, m.uid).value().fd.get())[0] ==
            (from_a ? 'a' : 'b'));
    }
  }
}

TEST_CASE("store shared: counters and changes are read fresh, never from a stale copy") {
  TwoProcesses p;
  // \Recent: a claims nothing, b appends, a's next claim gets b's message.
  CHECK(p.a->claim_recent(p.inbox).value().first == p.a->claim_recent(p.inbox).value().end);
  ModSeq seen = p.a->status(p.inbox).value().highest_modseq;
  auto added = p.b->append(p.inbox, p.fixture.message("x\r\n", 0, {"Fresh"})).value();
  RecentRange recent = p.a->claim_recent(p.inbox).value();
  CHECK(recent.first == added.uid);
  CHECK(recent.end == added.uid + 1);
  // a never wrote back an old uidnext: the next append by a gets the next uid.
  auto next = p.a->append(p.inbox, p.fixture.message("y\r\n")).value();
  CHECK(next.uid == added.uid + 1);
  CHECK(next.modseq > added.modseq);

  auto changes = p.a->changes_since(p.inbox, seen).value();
  CHECK(uids_of(changes.changed) == std::vector<Uid>{added.uid, next.uid});
  CHECK(changes.changed.keyword_names == std::vector<std::string>{"Fresh"});

  // b changes flags; a sees them; a's CONDSTORE check uses the new modseq.
  auto flagged =
      p.b->store_flags(p.inbox, {{added.uid, added.uid}}, FlagMode::Add, kFlagSeen, {}).value();
  auto stale = p.a->store_flags(p.inbox, {{added.uid, added.uid}}, FlagMode::Add, kFlagFlagged, {},
                                added.modseq);
  REQUIRE(stale.has_value());
  CHECK(stale->modified == std::vector<Uid>{added.uid});
  CHECK(p.a->list(p.inbox).value().messages.at(0).flags == kFlagSeen);
  CHECK(p.a->status(p.inbox).value().highest_modseq == flagged.modseq);

  // Mailboxes created by b are visible to a.
  REQUIRE(p.b->create_mailbox("FromB").has_value());
  CHECK(p.a->find_mailbox("FromB").has_value());
}

TEST_CASE("store shared: a message expunged by another process is gone, not corrupt") {
  TwoProcesses p;
  auto added = p.a->append(p.inbox, p.fixture.message("z\r\n", kFlagDeleted)).value();
  REQUIRE(p.b->expunge(p.inbox).value() == std::vector<Uid>{added.uid});
  auto opened = p.a->open_message(p.inbox, added.uid);
  REQUIRE_FALSE(opened.has_value());
  CHECK(opened.error() == StoreError::NoSuchMessage);
  CHECK(p.a->meta(p.inbox, added.uid).error() == StoreError::NoSuchMessage);
  CHECK(p.a->set_meta(p.inbox, added.uid, MessageMeta{"s", "e", {}}).error() ==
        StoreError::NoSuchMessage);
}

TEST_CASE("store shared: a forked process appends while the parent holds the account") {
  StoreFixture fixture;
  Store store(fixture.root());
  auto account = store.account(kAddress).value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  REQUIRE(account->append(inbox, fixture.message("parent 1\r\n")).has_value());
  constexpr int kChild = 5;
  std::vector<NewMessage> messages;
  for (int i = 0; i < kChild; ++i) messages.push_back(fixture.message("child\r\n"));

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: its own Store, connection and lock, as posternctl deliver has.
    int failed = 0;
    {
      Store own(fixture.root());
      auto mine = own.account(kAddress);
      if (!mine) ::_exit(10);
      for (const NewMessage& m : messages) failed += (*mine)->append(inbox, m) ? 0 : 1;
    }
    ::_exit(failed);
  }
  // Meanwhile the parent goes on using the account.
  for (int i = 0; i < 3; ++i) {
    CHECK(account->append(inbox, fixture.message("parent more\r\n")).has_value());
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);

  auto list = account->list(inbox).value();
  CHECK(list.messages.size() == 1 + 3 + kChild);
  std::set<Uid> uids;
  for (const MessageInfo& m : list.messages) uids.insert(m.uid);
  CHECK(uids.size() == list.messages.size());
  std::size_t from_child = 0;
  for (const MessageInfo& m : list.messages) {
    from_child += read_fd(account->open_message(inbox, m.uid).value().fd.get()) == "child\r\n";
  }
  CHECK(from_child == kChild);
  CHECK(account->usage().value().used_bytes == std::string("parent 1\r\n").size() +
                                                   3 * std::string("parent more\r\n").size() +
                                                   kChild * std::string("child\r\n").size());
}
