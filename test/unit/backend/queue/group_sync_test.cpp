#include "backend/queue/group_sync.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <thread>
#include <vector>

#include "test/unit/backend/store/store_test_support.hpp"

using namespace postern::node;
using namespace postern::node::queue;

TEST_CASE("group sync: concurrent callers share syncs; errors name the file") {
  for (auto mode : {store::SyncMode::Batch, store::SyncMode::Ordered}) {
    store::test::TempDir dir;
    GroupSync sync(dir.path().string(), mode);
    constexpr int kThreads = 8;
    constexpr int kRounds = 20;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kRounds; ++i) {
          std::string file =
              (dir.path() / ("f" + std::to_string(t) + "_" + std::to_string(i))).string();
          std::ofstream(file) << "x";
          if (sync.sync({file})) ++ok;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(ok == kThreads * kRounds);
    // Eight threads syncing in a loop: followers join a leader's group.
    CHECK(sync.syncs() < static_cast<std::uint64_t>(kThreads * kRounds));
  }
  store::test::TempDir dir;
  GroupSync ordered(dir.path().string(), store::SyncMode::Ordered);
  auto missing = ordered.sync({(dir.path() / "missing").string()});
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().find("missing") != std::string::npos);
}
