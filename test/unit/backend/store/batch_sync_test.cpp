// The Batch sync mode (account_store.hpp, DURABILITY): appends commit before
// their files are durable, so reconciliation must catch rows whose file a
// crash left missing or short.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "backend/store/store.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node::store;
using namespace postern::node::store::test;

namespace {

StoreOptions batch_options() {
  StoreOptions options;
  options.sync_mode = SyncMode::Batch;
  return options;
}

// The path of the file behind `uid`.
std::string file_of(AccountStore& account, MailboxId mailbox, Uid uid) {
  auto file = account.open_message(mailbox, uid);
  REQUIRE(file.has_value());
  return fs::read_symlink("/proc/self/fd/" + std::to_string(file->fd.get())).string();
}

}  // namespace

TEST_CASE("store: reconcile expunges rows whose file is missing or short") {
  StoreFixture f;
  std::string missing;
  std::string shortened;
  ModSeq before = 0;
  {
    Store store(f.root(), batch_options());
    auto account = store.account("crash@example.com").value();
    MailboxId inbox = mailbox_id(*account, "INBOX");
    std::vector<NewMessage> batch{f.message("first message\r\n"), f.message("second one\r\n"),
                                  f.message("third, intact\r\n")};
    REQUIRE(account->append_batch(inbox, batch).has_value());
    missing = file_of(*account, inbox, 1);
    shortened = file_of(*account, inbox, 2);
    before = account->status(inbox).value().highest_modseq;
  }
  // What a crash between the batch's commit and its syncfs can leave: the
  // rows reached the disk, a file's entry or its data did not.
  REQUIRE(fs::remove(missing));
  fs::resize_file(shortened, 0);

  Store store(f.root(), batch_options());
  auto account = store.account("crash@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  CHECK(uids_of(account->list(inbox).value()) == std::vector<Uid>{3});
  auto changes = account->changes_since(inbox, before).value();
  CHECK(changes.expunged == std::vector<Uid>{1, 2});
  CHECK_FALSE(fs::exists(shortened));  // removed with its row
  CHECK(message_files(account->directory()).size() == 1);
  CHECK(read_fd(account->open_message(inbox, 3).value().fd.get()) == "third, intact\r\n");
  CHECK(account->usage().value().used_bytes == 15);
}

TEST_CASE("store: a file longer than its row is dropped too") {
  StoreFixture f;
  std::string grown;
  {
    Store store(f.root(), batch_options());
    auto account = store.account("long@example.com").value();
    MailboxId inbox = mailbox_id(*account, "INBOX");
    REQUIRE(account->append(inbox, f.message("abc\r\n")).has_value());
    grown = file_of(*account, inbox, 1);
  }
  std::ofstream(grown, std::ios::app) << "extra";
  Store store(f.root(), batch_options());
  auto account = store.account("long@example.com").value();
  CHECK(account->list(mailbox_id(*account, "INBOX")).value().messages.empty());
  CHECK_FALSE(fs::exists(grown));
}

TEST_CASE("store: a batch append is readable after closing and reopening") {
  StoreFixture f;
  std::vector<std::string> bodies;
  std::vector<NewMessage> batch;
  for (int i = 0; i < 20; ++i) {
    bodies.push_back("Subject: " + std::to_string(i) + "\r\n\r\n" + std::string(100 * i, 'x'));
    batch.push_back(
        f.message(bodies.back(), i % 2 == 0 ? kFlagSeen : 0, {"$label" + std::to_string(i % 3)}));
  }
  std::vector<AppendResult> added;
  {
    Store store(f.root(), batch_options());
    auto account = store.account("batch@example.com").value();
    auto result = account->append_batch(mailbox_id(*account, "INBOX"), batch);
    REQUIRE(result.has_value());
    added = *result;
  }
  for (const NewMessage& m : batch) CHECK_FALSE(fs::exists(m.source_path));  // moved in
  Store store(f.root(), batch_options());
  auto account = store.account("batch@example.com").value();  // reconciles: alone
  MailboxId inbox = mailbox_id(*account, "INBOX");
  auto list = account->list(inbox).value();
  REQUIRE(list.messages.size() == bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const MessageInfo& info = list.messages[i];
    CHECK(info.uid == added[i].uid);
    CHECK(info.size == bodies[i].size());
    CHECK(info.flags == (i % 2 == 0 ? kFlagSeen : 0));
    CHECK(read_fd(account->open_message(inbox, info.uid).value().fd.get()) == bodies[i]);
  }
  CHECK(message_files(account->directory()).size() == bodies.size());
}
