// Store's linger (store.hpp, LINGER): accounts stay open for a while after
// their last user lets go, bounded in time and count.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/store/store.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node::store;
using namespace postern::node::store::test;
using namespace std::chrono_literals;

namespace {

StoreOptions linger_options(std::chrono::milliseconds linger, std::size_t max = 512) {
  StoreOptions options;
  options.linger = linger;
  options.linger_max = max;
  return options;
}

// Opens `address` and lets go of it at once; returns a weak reference to
// tell whether the store still keeps it open.
std::weak_ptr<AccountStore> touch(Store& store, const std::string& address) {
  auto account = store.account(address);
  REQUIRE(account.has_value());
  return *account;
}

// Puts a file no index row names into the account's message directory, as a
// crash before an append's commit would; only reconciling removes it.
std::string plant_orphan(const std::string& account_dir) {
  fs::create_directories(account_dir + "/msg/ab");
  std::string orphan = account_dir + "/msg/ab/ab" + std::string(30, '0');
  std::ofstream(orphan) << "x";
  return orphan;
}

}  // namespace

TEST_CASE("store linger: the same account comes back within the linger, a new one after") {
  StoreFixture f;
  Store store(f.root(), linger_options(100ms));
  auto first = touch(store, "alice@example.com");
  CHECK_FALSE(first.expired());  // nobody uses it, the store keeps it open
  CHECK(store.lingering() == 1);
  auto again = store.account("alice@example.com").value();
  const auto used = std::chrono::steady_clock::now();
  CHECK(again == first.lock());  // no new open
  again.reset();

  store.sweep(used + 50ms);  // not expired yet
  CHECK_FALSE(first.expired());
  store.sweep(used + 150ms);
  CHECK(first.expired());  // closed by sweep()
  CHECK(store.lingering() == 0);

  auto reopened = touch(store, "alice@example.com");
  CHECK_FALSE(reopened.expired());
  std::this_thread::sleep_for(150ms);  // the real clock too
  store.sweep();
  CHECK(reopened.expired());
}

TEST_CASE("store linger: an account in use is never swept; its linger starts when it is let go") {
  StoreFixture f;
  Store store(f.root(), linger_options(100ms));
  auto held = store.account("bob@example.com").value();
  std::weak_ptr<AccountStore> weak = held;
  const auto t0 = std::chrono::steady_clock::now();
  store.sweep(t0 + 1s);  // in use: counts as used at t0 + 1s
  CHECK(store.lingering() == 1);
  held.reset();
  CHECK_FALSE(weak.expired());  // the last user let go: the store closes it, later
  store.sweep(t0 + 1s + 50ms);
  CHECK_FALSE(weak.expired());
  store.sweep(t0 + 1s + 150ms);
  CHECK(weak.expired());
}

TEST_CASE("store linger: at most linger_max idle accounts, least recently used go first") {
  StoreFixture f;
  Store store(f.root(), linger_options(30s, 2));
  auto a = touch(store, "a@example.com");
  auto b = touch(store, "b@example.com");
  touch(store, "a@example.com");  // a is now more recent than b
  auto c = touch(store, "c@example.com");
  CHECK(store.lingering() == 2);
  CHECK(b.expired());
  CHECK_FALSE(a.expired());
  CHECK_FALSE(c.expired());

  // Accounts in use are not dropped for the bound (they are open anyway).
  std::vector<std::shared_ptr<AccountStore>> held;
  for (const char* address : {"d@example.com", "e@example.com", "f@example.com"})
    held.push_back(store.account(address).value());
  CHECK(store.lingering() == 3);  // a and c made room
  CHECK(a.expired());
  CHECK(c.expired());
  std::weak_ptr<AccountStore> d = held[0];
  held.clear();
  store.sweep();  // nothing expired, but over the bound: d, the oldest, goes
  CHECK(store.lingering() == 2);
  CHECK(d.expired());
}

TEST_CASE("store linger: 0 closes an account when its last user lets go") {
  StoreFixture f;
  Store store(f.root(), linger_options(0ms));
  auto account = store.account("carol@example.com").value();
  std::weak_ptr<AccountStore> weak = account;
  const std::string orphan = plant_orphan(account->directory());
  CHECK(store.lingering() == 0);
  account.reset();
  CHECK(weak.expired());
  auto reopened = store.account("carol@example.com").value();
  CHECK_FALSE(fs::exists(orphan));  // reopened alone: reconciled
}

TEST_CASE("store linger: an account opened anew is reconciled; a lingering one is not reopened") {
  StoreFixture f;
  Store store(f.root(), linger_options(100ms));
  std::weak_ptr<AccountStore> weak = touch(store, "dave@example.com");
  const std::string orphan = plant_orphan(weak.lock()->directory());
  touch(store, "dave@example.com");
  CHECK(fs::exists(orphan));  // still the same open account
  store.sweep(std::chrono::steady_clock::now() + 1s);
  REQUIRE(weak.expired());
  touch(store, "dave@example.com");
  CHECK_FALSE(fs::exists(orphan));
}

TEST_CASE("store linger: another Store delivers while this one lingers on the account") {
  StoreFixture f;
  Store node(f.root(), linger_options(30s));
  std::weak_ptr<AccountStore> lingering = touch(node, "erin@example.com");
  const std::string orphan = plant_orphan(lingering.lock()->directory());
  {
    // What posternctl deliver does in its own process: opens shared (no
    // reconcile while the node has the account open) and appends.
    Store deliver(f.root(), linger_options(0ms));
    auto account = deliver.account("erin@example.com").value();
    REQUIRE(account->append(mailbox_id(*account, "INBOX"), f.message("hello\r\n")).has_value());
  }
  CHECK(fs::exists(orphan));
  auto account = node.account("erin@example.com").value();
  CHECK(account == lingering.lock());
  MailboxId inbox = mailbox_id(*account, "INBOX");
  CHECK(uids_of(account->list(inbox).value()) == std::vector<Uid>{1});
  CHECK(read_fd(account->open_message(inbox, 1).value().fd.get()) == "hello\r\n");
}

TEST_CASE("store linger: drop_lingering closes every idle account; in-use ones stay usable") {
  StoreFixture f;
  Store store(f.root(), linger_options(30s));
  auto idle = touch(store, "frank@example.com");
  auto held = store.account("grace@example.com").value();
  store.drop_lingering();
  CHECK(store.lingering() == 0);
  CHECK(idle.expired());
  CHECK(held->find_mailbox("INBOX").has_value());
  std::weak_ptr<AccountStore> weak = held;
  held.reset();
  CHECK(weak.expired());  // no longer lingering: the last user closed it
  CHECK(touch(store, "frank@example.com").lock() != nullptr);
}

TEST_CASE("store linger: concurrent users, sweeps and the bound never open an account twice") {
  StoreFixture f;
  Store store(f.root(), linger_options(1ms, 2));
  const std::vector<std::string> addresses{"p@example.com", "q@example.com", "r@example.com",
                                           "s@example.com"};
  std::mutex seen_mutex;
  std::map<std::string, std::vector<std::weak_ptr<AccountStore>>> seen;  // every one handed out
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> twice{0};
  std::thread sweeper([&] {
    while (!stop) store.sweep(std::chrono::steady_clock::now() + 1s);
  });
  std::vector<std::thread> users;
  for (int t = 0; t < 3; ++t) {
    users.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        const std::string& address = addresses[static_cast<std::size_t>(i + t) % addresses.size()];
        auto account = store.account(address);
        if (!account || !(*account)->find_mailbox("INBOX")) {
          ++failures;
          continue;
        }
        std::lock_guard lock(seen_mutex);
        for (const auto& other : seen[address]) {
          auto alive = other.lock();
          if (alive && alive != *account) ++twice;  // two open at once
        }
        seen[address].push_back(*account);
      }
    });
  }
  for (auto& u : users) u.join();
  stop = true;
  sweeper.join();
  CHECK(failures == 0);
  CHECK(twice == 0);
  // Well past the sweeper's clock (now + 1 s): an account that its last
  // sweep saw in use restarted its linger there.
  store.sweep(std::chrono::steady_clock::now() + 60s);
  CHECK(store.lingering() == 0);
}
