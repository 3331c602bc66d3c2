#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "backend/store/store.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node::store;
using namespace postern::node::store::test;

namespace {

std::string fd_path(int fd) {
  return fs::read_symlink("/proc/self/fd/" + std::to_string(fd)).string();
}

long peak_rss_kib() {
  struct rusage usage {};
  REQUIRE(::getrusage(RUSAGE_SELF, &usage) == 0);
  return usage.ru_maxrss;
}

// Runs the calling test case once per StoreOptions::sync_mode (doctest
// re-enters the test case for each subcase).
StoreOptions each_sync_mode() {
  StoreOptions options;
  SUBCASE("ordered") {
    options.sync_mode = SyncMode::Ordered;
  }
  SUBCASE("batch") {
    options.sync_mode = SyncMode::Batch;
  }
  return options;
}

}  // namespace

TEST_CASE("store: reconcile drops orphan files and rows without files") {
  StoreFixture f;
  const StoreOptions options = each_sync_mode();
  std::string dir;
  std::string lost;
  ModSeq before = 0;
  {
    Store store(f.root(), options);
    auto account = store.account("rec@example.com").value();
    dir = account->directory();
    MailboxId inbox = mailbox_id(*account, "INBOX");
    REQUIRE(account->append(inbox, f.message("one\r\n")).has_value());
    REQUIRE(account->append(inbox, f.message("two\r\n")).has_value());
    lost = fd_path(account->open_message(inbox, 1).value().fd.get());
    before = account->status(inbox).value().highest_modseq;
  }
  // A crash between the file's fsync and the row's commit leaves an orphan;
  // outside damage leaves a row without its file.
  REQUIRE(fs::remove(lost));
  fs::create_directories(dir + "/msg/ab");
  std::string orphan = dir + "/msg/ab/ab" + std::string(30, '0');
  std::string foreign = dir + "/msg/ab/README";
  std::string leftover = dir + "/tmp/" + std::string(32, 'c');
  for (const std::string& p : {orphan, foreign, leftover}) std::ofstream(p) << "x";

  Store store(f.root(), options);
  auto account = store.account("rec@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  CHECK(uids_of(account->list(inbox).value()) == std::vector<Uid>{2});
  auto changes = account->changes_since(inbox, before).value();
  CHECK(changes.expunged == std::vector<Uid>{1});  // sessions are told
  CHECK(changes.highest_modseq > before);
  CHECK_FALSE(fs::exists(orphan));
  CHECK_FALSE(fs::exists(leftover));
  CHECK(fs::exists(foreign));  // not ours to delete
  CHECK(read_fd(account->open_message(inbox, 2).value().fd.get()) == "two\r\n");
  CHECK(account->usage().value().used_bytes == 5);
}

TEST_CASE("store: several Stores may hold an account open; only a lone opener reconciles") {
  StoreFixture f;
  const StoreOptions options = each_sync_mode();
  Store first(f.root(), options);
  Store second(f.root(), options);
  auto held = first.account("lock@example.com");
  REQUIRE(held.has_value());
  std::string dir = (*held)->directory();
  // An append in flight elsewhere looks exactly like this orphan.
  fs::create_directories(dir + "/msg/ab");
  std::string orphan = dir + "/msg/ab/ab" + std::string(30, '0');
  std::string copying = dir + "/tmp/" + std::string(32, 'c');
  for (const std::string& p : {orphan, copying}) std::ofstream(p) << "x";
  {
    auto shared = second.account("lock@example.com");
    REQUIRE(shared.has_value());
    CHECK(fs::exists(orphan));
    CHECK(fs::exists(copying));
  }
  held->reset();
  // Both Stores keep the account open for a while (store.hpp, LINGER): let go.
  first.drop_lingering();
  second.drop_lingering();
  CHECK(second.account("lock@example.com").has_value());  // alone now: reconciles
  CHECK_FALSE(fs::exists(orphan));
  CHECK_FALSE(fs::exists(copying));
  CHECK(first.account("no-at-sign").error() == StoreError::BadArgument);
}

namespace {

// A directory on another filesystem than `than` (tmpfs), if there is one.
std::optional<TempDir> foreign_dir(const std::string& than) {
  struct stat ours {
  }, shm{};
  if (::stat(than.c_str(), &ours) != 0 || ::stat("/dev/shm", &shm) != 0) return std::nullopt;
  if (ours.st_dev == shm.st_dev || ::access("/dev/shm", W_OK) != 0) return std::nullopt;
  return std::optional<TempDir>(std::in_place, "/dev/shm");
}

}  // namespace

TEST_CASE("store: a 50 MB append never passes through memory") {
  StoreFixture f;
  const StoreOptions options = each_sync_mode();
  Store store(f.root(), options);
  auto account = store.account("big@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  // From another filesystem when possible: then the store must copy, which is
  // where a careless implementation would buffer the message.
  auto foreign = foreign_dir(f.root());
  std::string path = (foreign ? foreign->path().string() : f.spool()) + "/big";
  constexpr std::size_t kBig = 50u << 20;
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    std::string chunk(1 << 20, 'a');
    for (std::size_t i = 0; i + 2 < chunk.size(); i += 78) chunk.replace(i, 2, "\r\n");
    for (std::size_t done = 0; done < kBig; done += chunk.size()) {
      REQUIRE(::write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
    }
    REQUIRE(::pwrite(fd, "END\r\n", 5, kBig - 5) == 5);
    ::close(fd);
  }
  NewMessage m;
  m.source_path = path;
  m.size = kBig;
  long before = peak_rss_kib();
  auto added = account->append(inbox, m);
  REQUIRE(added.has_value());
  long grown_kib = peak_rss_kib() - before;
  CAPTURE(grown_kib);
  CHECK(grown_kib < 8 * 1024);
  CHECK_FALSE(fs::exists(path));
  auto file = account->open_message(inbox, added->uid);
  REQUIRE(file.has_value());
  CHECK(file->size == kBig);
  char tail[5];
  REQUIRE(::pread(file->fd.get(), tail, 5, kBig - 5) == 5);
  CHECK(std::string(tail, 5) == "END\r\n");
  CHECK(account->list(inbox).value().messages.at(0).size == kBig);
}

TEST_CASE("store: a source on another filesystem is copied, not linked") {
  StoreFixture f;
  const StoreOptions options = each_sync_mode();
  auto foreign = foreign_dir(f.root());
  if (!foreign) return;  // nothing to test on this machine
  Store store(f.root(), options);
  auto account = store.account("xfs@example.com").value();
  MailboxId inbox = mailbox_id(*account, "INBOX");
  std::string path = foreign->path().string() + "/m";
  std::ofstream(path) << "copied\r\n";
  NewMessage m;
  m.source_path = path;
  m.size = 8;
  m.source_mode = SourceMode::Link;
  REQUIRE(account->append(inbox, m).has_value());
  CHECK(fs::exists(path));
  CHECK(read_fd(account->open_message(inbox, 1).value().fd.get()) == "copied\r\n");
  CHECK(fs::is_empty(account->directory() + "/tmp"));
}

TEST_CASE("store: two sessions on two threads append and list the same account") {
  StoreFixture f;
  const StoreOptions options = each_sync_mode();
  Store store(f.root(), options);
  constexpr int kPerThread = 15;
  std::vector<NewMessage> a;
  std::vector<NewMessage> b;
  for (int i = 0; i < kPerThread; ++i) {
    a.push_back(f.message("a" + std::to_string(i) + "\r\n"));
    b.push_back(f.message("b" + std::to_string(i) + "\r\n"));
  }
  std::atomic<int> failures{0};
  std::atomic<bool> unsorted{false};
  auto session = [&](const std::vector<NewMessage>& mine, const char* box, const char* other) {
    auto account = store.account("shared@example.com");
    if (!account) {
      ++failures;
      return;
    }
    MailboxId id = (*account)->find_mailbox(box).value().id;
    MailboxId other_id = (*account)->find_mailbox(other).value().id;
    for (const NewMessage& m : mine) {
      if (!(*account)->append(id, m)) ++failures;
      auto listed = (*account)->list(other_id);
      if (!listed) {
        ++failures;
        continue;
      }
      for (std::size_t i = 1; i < listed->messages.size(); ++i) {
        if (listed->messages[i - 1].uid >= listed->messages[i].uid) unsorted = true;
      }
    }
  };
  std::thread t1(session, std::cref(a), "INBOX", "Sent");
  std::thread t2(session, std::cref(b), "Sent", "INBOX");
  t1.join();
  t2.join();
  CHECK(failures == 0);
  CHECK_FALSE(unsorted);
  auto account = store.account("shared@example.com").value();
  for (const char* box : {"INBOX", "Sent"}) {
    auto list = account->list(mailbox_id(*account, box)).value();
    REQUIRE(list.messages.size() == kPerThread);
    CHECK(list.messages.back().uid == kPerThread);
  }
}

TEST_CASE("store: deliver_linked links one file into several accounts") {
  StoreFixture f;
  const StoreOptions options = each_sync_mode();
  Store store(f.root(), options);
  NewMessage m = f.message("Subject: to all\r\n\r\nhi\r\n", 0, {"$Delivered"});
  std::vector<LinkedDelivery> to{
      {"one@example.com", "INBOX"},
      {"two@example.com", "Folder/That/Does/Not/Exist"},
      {"three@other.example", "Archive"},
      {"broken-address", "INBOX"},
  };
  auto results = store.deliver_linked(m, to);
  REQUIRE(results.size() == 4);
  CHECK(results[0].has_value());
  CHECK(results[1].has_value());
  CHECK(results[2].has_value());
  CHECK(results[3].error() == StoreError::BadArgument);
  struct stat st {};
  REQUIRE(::stat(m.source_path.c_str(), &st) == 0);  // the caller's file stays
  CHECK(st.st_nlink == 4);
  auto two = store.account("two@example.com").value();
  CHECK(two->list(mailbox_id(*two, "INBOX")).value().messages.size() == 1);
  auto three = store.account("three@other.example").value();
  auto archived = three->list(mailbox_id(*three, "Archive")).value();
  REQUIRE(archived.messages.size() == 1);
  CHECK(archived.keyword_names.at(0) == "$Delivered");
}
