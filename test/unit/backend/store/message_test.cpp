#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "backend/store/store.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node::store;
using namespace postern::node::store::test;

namespace {

const std::string kBody = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";

struct Opened {
  StoreFixture fixture;
  Store store{fixture.root()};
  std::shared_ptr<AccountStore> account = store.account("user@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
};

}  // namespace

TEST_CASE("store: append, list, meta and open_message") {
  Opened o;
  NewMessage m = o.fixture.message(kBody, kFlagSeen | kFlagFlagged, {"$Label1", "Work"});
  m.meta.structure = std::string("(\"text\" \"plain\")\0bin", 20);
  m.meta.envelope = "(NIL \"hi\")";
  m.meta.extra = {{"offsets", "0 34 41"}, {"empty", ""}};
  std::string source = m.source_path;
  auto added = o.account->append(o.inbox, m);
  REQUIRE(added.has_value());
  CHECK(added->uid == 1);
  CHECK(added->uidvalidity == o.account->status(o.inbox).value().uidvalidity);
  CHECK_FALSE(fs::exists(source));  // SourceMode::Move: the store owns the file now

  auto list = o.account->list(o.inbox).value();
  REQUIRE(list.messages.size() == 1);
  const MessageInfo& info = list.messages[0];
  CHECK(info.uid == 1);
  CHECK(info.flags == (kFlagSeen | kFlagFlagged));
  CHECK(info.size == kBody.size());
  CHECK(info.internal_date == m.internal_date.seconds);
  CHECK(info.zone_minutes == 60);
  CHECK(info.modseq == added->modseq);
  REQUIRE(list.keyword_names.size() == 2);
  CHECK(list.keyword_names[0] == "$Label1");
  CHECK(info.keywords == 3);

  auto meta = o.account->meta(o.inbox, 1).value();
  CHECK(meta.structure == m.meta.structure);
  CHECK(meta.envelope == m.meta.envelope);
  CHECK(meta.extra == m.meta.extra);
  CHECK(o.account->meta(o.inbox, 2).error() == StoreError::NoSuchMessage);
  MessageMeta later;
  later.structure = "reparsed";
  REQUIRE(o.account->set_meta(o.inbox, 1, later).has_value());
  CHECK(o.account->meta(o.inbox, 1).value().structure == "reparsed");

  auto file = o.account->open_message(o.inbox, 1);
  REQUIRE(file.has_value());
  CHECK(file->size == kBody.size());
  CHECK(read_fd(file->fd.get()) == kBody);
  CHECK(o.account->open_message(o.inbox, 9).error() == StoreError::NoSuchMessage);

  auto status = o.account->status(o.inbox).value();
  CHECK(status.messages == 1);
  CHECK(status.unseen == 0);
  CHECK(status.uidnext == 2);
  CHECK(status.highest_modseq == added->modseq);
}

TEST_CASE("store: append refuses bad input and leaves the source alone") {
  Opened o;
  NewMessage m = o.fixture.message(kBody);
  m.size += 1;
  CHECK(o.account->append(o.inbox, m).error() == StoreError::BadArgument);
  CHECK(fs::exists(m.source_path));
  m.size -= 1;
  m.flags = 0x100;
  CHECK(o.account->append(o.inbox, m).error() == StoreError::BadArgument);
  m.flags = 0;
  m.keywords = {"\\Recent"};
  CHECK(o.account->append(o.inbox, m).error() == StoreError::BadArgument);
  m.keywords = {};
  CHECK(o.account->append(987654, m).error() == StoreError::NoSuchMailbox);
  NewMessage missing = m;
  missing.source_path = o.fixture.spool() + "/does-not-exist";
  CHECK(o.account->append(o.inbox, missing).error() == StoreError::BadArgument);
  CHECK(fs::exists(m.source_path));
  CHECK(message_files(o.account->directory()).empty());
  m.source_mode = SourceMode::Link;
  REQUIRE(o.account->append(o.inbox, m).has_value());
  CHECK(fs::exists(m.source_path));  // Link: the caller keeps its name
}

TEST_CASE("store: batch append commits several messages at once") {
  Opened o;
  std::vector<NewMessage> batch;
  batch.reserve(5);
  for (int i = 0; i < 5; ++i) batch.push_back(o.fixture.message("m" + std::to_string(i) + "\r\n"));
  auto results = o.account->append_batch(o.inbox, batch);
  REQUIRE(results.has_value());
  REQUIRE(results->size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK((*results)[i].uid == i + 1);
  CHECK(o.account->list(o.inbox).value().messages.size() == 5);
  // All in one shard directory: one directory fsync.
  auto files = message_files(o.account->directory());
  REQUIRE(files.size() == 5);
  for (const auto& p : files) CHECK(p.parent_path() == files[0].parent_path());
  // All or nothing.
  std::vector<NewMessage> bad{o.fixture.message("ok\r\n"), o.fixture.message("x\r\n")};
  bad[1].size = 99;
  CHECK(o.account->append_batch(o.inbox, bad).error() == StoreError::BadArgument);
  CHECK(o.account->list(o.inbox).value().messages.size() == 5);
  CHECK(message_files(o.account->directory()).size() == 5);
}

TEST_CASE("store: STORE flags and keywords with modseq and UNCHANGEDSINCE") {
  Opened o;
  for (int i = 0; i < 3; ++i) REQUIRE(o.account->append(o.inbox, o.fixture.message(kBody)));
  ModSeq base = o.account->status(o.inbox).value().highest_modseq;

  auto seen = o.account->store_flags(o.inbox, {{1, 2}}, FlagMode::Add, kFlagSeen, {});
  REQUIRE(seen.has_value());
  CHECK(seen->modseq > base);
  REQUIRE(seen->messages.messages.size() == 2);
  CHECK(seen->messages.messages[0].flags == kFlagSeen);
  CHECK(seen->messages.messages[1].modseq == seen->modseq);
  CHECK(o.account->status(o.inbox).value().highest_modseq == seen->modseq);
  CHECK(o.account->status(o.inbox).value().unseen == 1);

  // No actual change: no new modseq.
  auto again = o.account->store_flags(o.inbox, {{1, 1}}, FlagMode::Add, kFlagSeen, {});
  CHECK(again.value().modseq == 0);
  CHECK(again->messages.messages[0].modseq == seen->modseq);

  std::vector<std::string> kw{"Work", "$Important"};
  auto tagged = o.account->store_flags(o.inbox, {{3, 1}}, FlagMode::Replace, kFlagFlagged, kw);
  REQUIRE(tagged.has_value());
  REQUIRE(tagged->messages.keyword_names.size() == 2);
  for (const MessageInfo& m : tagged->messages.messages) {
    CHECK(m.flags == kFlagFlagged);
    CHECK(m.keywords == 3);
  }
  std::vector<std::string> remove{"work", "Unknown"};  // case-insensitive; unknown ignored
  auto removed = o.account->store_flags(o.inbox, {{2, 2}}, FlagMode::Remove, 0, remove);
  CHECK(removed.value().messages.messages[0].keywords == 2);
  CHECK(o.account->list(o.inbox).value().keyword_names.size() == 2);

  // CONDSTORE: message 2 changed after `tagged`, so it fails UNCHANGEDSINCE.
  auto cond =
      o.account->store_flags(o.inbox, {{1, 3}}, FlagMode::Add, kFlagAnswered, {}, tagged->modseq);
  REQUIRE(cond.has_value());
  CHECK(cond->modified == std::vector<Uid>{2});
  CHECK(uids_of(cond->messages) == std::vector<Uid>{1, 3});

  CHECK(o.account->store_flags(o.inbox, {{1, 1}}, FlagMode::Add, 0x40, {}).error() ==
        StoreError::BadArgument);
}

TEST_CASE("store: keywords per mailbox are bounded") {
  Opened o;
  REQUIRE(o.account->append(o.inbox, o.fixture.message(kBody)));
  std::vector<std::string> many;
  for (std::size_t i = 0; i < kMaxKeywordsPerMailbox; ++i) many.push_back("k" + std::to_string(i));
  REQUIRE(o.account->store_flags(o.inbox, {{1, 1}}, FlagMode::Add, 0, many).has_value());
  CHECK(o.account->list(o.inbox).value().messages[0].keywords == ~std::uint64_t{0});
  std::vector<std::string> one_more{"overflow"};
  CHECK(o.account->store_flags(o.inbox, {{1, 1}}, FlagMode::Add, 0, one_more).error() ==
        StoreError::Limit);
}

TEST_CASE("store: EXPUNGE removes \\Deleted rows and their files") {
  Opened o;
  for (int i = 0; i < 4; ++i) REQUIRE(o.account->append(o.inbox, o.fixture.message(kBody)));
  CHECK(o.account->expunge(o.inbox).value().empty());
  REQUIRE(o.account->store_flags(o.inbox, {{1, 3}}, FlagMode::Add, kFlagDeleted, {}));
  // UID EXPUNGE: only within the set.
  CHECK(o.account->expunge(o.inbox, UidSet{{2, 2}}).value() == std::vector<Uid>{2});
  CHECK(message_files(o.account->directory()).size() == 3);
  CHECK(o.account->expunge(o.inbox).value() == std::vector<Uid>{1, 3});
  CHECK(uids_of(o.account->list(o.inbox).value()) == std::vector<Uid>{4});
  CHECK(message_files(o.account->directory()).size() == 1);
  CHECK(o.account->usage().value().used_bytes == kBody.size());
}

TEST_CASE("store: COPY hard-links and maps uids; MOVE is one transaction") {
  Opened o;
  MailboxId archive = mailbox_id(*o.account, "Archive");
  REQUIRE(o.account->append(archive, o.fixture.message("pre\r\n")));  // dst uids start at 2
  for (int i = 0; i < 3; ++i) {
    REQUIRE(o.account->append(o.inbox, o.fixture.message(kBody, kFlagSeen, {"Tag"})));
  }
  NewMessage with_meta = o.fixture.message(kBody);
  with_meta.meta.envelope = "env";
  REQUIRE(o.account->append(o.inbox, with_meta));

  auto copied = o.account->copy(o.inbox, {{2, 4}, {9, 9}}, archive);
  REQUIRE(copied.has_value());
  CHECK(copied->uidvalidity == o.account->status(archive).value().uidvalidity);
  REQUIRE(copied->uids.size() == 3);
  CHECK(copied->uids[0].from == 2);
  CHECK(copied->uids[0].to == 2);
  CHECK(copied->uids[2].from == 4);
  CHECK(copied->uids[2].to == 4);
  auto dst = o.account->list(archive).value();
  REQUIRE(dst.messages.size() == 4);
  CHECK(dst.messages[1].flags == kFlagSeen);
  REQUIRE(dst.keyword_names.size() == 1);
  CHECK(dst.keyword_names[0] == "Tag");
  CHECK(dst.messages[1].keywords == 1);
  CHECK(o.account->meta(archive, 4).value().envelope == "env");
  auto original = o.account->open_message(o.inbox, 2).value();
  auto copy = o.account->open_message(archive, 2).value();
  struct stat a {
  }, b{};
  REQUIRE(::fstat(original.fd.get(), &a) == 0);
  REQUIRE(::fstat(copy.fd.get(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);  // a hard link, not a copy
  CHECK(a.st_nlink == 2);
  CHECK(o.account->status(o.inbox).value().messages == 4);  // COPY leaves the source

  ModSeq before = o.account->status(o.inbox).value().highest_modseq;
  auto moved = o.account->move(o.inbox, {{1, 2}}, archive);
  REQUIRE(moved.has_value());
  REQUIRE(moved->uids.size() == 2);
  CHECK(moved->uids[0].from == 1);
  CHECK(moved->uids[0].to == 5);
  CHECK(moved->uids[1].to == 6);
  CHECK(uids_of(o.account->list(o.inbox).value()) == std::vector<Uid>{3, 4});
  CHECK(uids_of(o.account->list(archive).value()) == std::vector<Uid>{1, 2, 3, 4, 5, 6});
  auto changes = o.account->changes_since(o.inbox, before).value();
  CHECK(changes.expunged == std::vector<Uid>{1, 2});
  CHECK(o.account->copy(o.inbox, {{3, 3}}, 424242).error() == StoreError::NoSuchMailbox);
  // Moving again what is gone: nothing to do, not an error.
  CHECK(o.account->move(o.inbox, {{1, 2}}, archive).value().uids.empty());
}

TEST_CASE("store: changes since a modseq (new, flags, expunged)") {
  Opened o;
  for (int i = 0; i < 3; ++i) REQUIRE(o.account->append(o.inbox, o.fixture.message(kBody)));
  ModSeq seen = o.account->status(o.inbox).value().highest_modseq;
  CHECK(o.account->changes_since(o.inbox, seen).value().changed.messages.empty());

  REQUIRE(o.account->store_flags(o.inbox, {{2, 2}}, FlagMode::Add, kFlagDeleted, {}));
  REQUIRE(o.account->store_flags(o.inbox, {{3, 3}}, FlagMode::Add, kFlagAnswered, {}));
  REQUIRE(o.account->expunge(o.inbox));
  REQUIRE(o.account->append(o.inbox, o.fixture.message(kBody)));

  auto changes = o.account->changes_since(o.inbox, seen).value();
  CHECK(changes.expunged == std::vector<Uid>{2});
  CHECK(uids_of(changes.changed) == std::vector<Uid>{3, 4});
  CHECK(changes.changed.messages[0].flags == kFlagAnswered);
  CHECK(changes.uidnext == 5);
  CHECK(changes.highest_modseq == o.account->status(o.inbox).value().highest_modseq);
  CHECK(changes.highest_modseq > seen);
  // Another mailbox's changes are not ours.
  MailboxId sent = mailbox_id(*o.account, "Sent");
  auto other = o.account->changes_since(sent, seen).value();
  CHECK(other.changed.messages.empty());
  CHECK(other.expunged.empty());
}

TEST_CASE("store: \\Recent is claimed by one session") {
  Opened o;
  for (int i = 0; i < 2; ++i) REQUIRE(o.account->append(o.inbox, o.fixture.message(kBody)));
  CHECK(o.account->status(o.inbox).value().recent == 2);
  auto first = o.account->claim_recent(o.inbox).value();
  CHECK(first.first == 1);
  CHECK(first.end == 3);
  auto second = o.account->claim_recent(o.inbox).value();
  CHECK(second.first == second.end);
  CHECK(o.account->status(o.inbox).value().recent == 0);
}

TEST_CASE("store: quota") {
  StoreFixture f;
  Store store(f.root(), StoreOptions{100});
  auto account = store.account("q@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  REQUIRE(account->append(inbox, f.message(std::string(60, 'x'))));
  CHECK(account->append(inbox, f.message(std::string(60, 'y'))).error() ==
        StoreError::QuotaExceeded);
  CHECK(account->copy(inbox, {{1, 1}}, mailbox_id(*account, "Sent")).error() ==
        StoreError::QuotaExceeded);
  CHECK(message_files(account->directory()).size() == 1);
  auto usage = account->usage().value();
  CHECK(usage.used_bytes == 60);
  CHECK(usage.quota_bytes == 100);
}
