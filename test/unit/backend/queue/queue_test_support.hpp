// A Queue on a real store in a temporary folder, with a recording transport
// that answers as the test says.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/queue/queue.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

namespace postern::node::queue::test {

namespace fs = std::filesystem;

// Records every delivery; answers each recipient with `answer` (default:
// delivered), always later on the loop, never inline.
class RecordingTransport final : public RemoteTransport {
 public:
  struct Shared {
    std::mutex mutex;
    std::vector<RemoteDelivery> calls;  // guarded by mutex
    std::function<RecipientOutcome(const RemoteDelivery&, const Recipient&)> answer;
    bool shut_down = false;

    std::size_t count() {
      std::lock_guard lock(mutex);
      return calls.size();
    }
  };

  RecordingTransport(core::EventLoop& loop, std::shared_ptr<Shared> shared)
      : loop_(loop), shared_(std::move(shared)) {}

  void deliver(RemoteDelivery delivery,
               std::function<void(std::vector<RecipientOutcome>)> done) override {
    std::vector<RecipientOutcome> out;
    {
      std::lock_guard lock(shared_->mutex);
      for (const Recipient& r : delivery.recipients) {
        if (shared_->answer) {
          out.push_back(shared_->answer(delivery, r));
        } else {
          RecipientOutcome o;
          o.status = RecipientOutcome::Status::Delivered;
          o.reply = "250 2.0.0 Ok";
          o.remote_mta = "mx.test [192.0.2.1]";
          out.push_back(o);
        }
      }
      shared_->calls.push_back(std::move(delivery));
    }
    loop_.post([done = std::move(done), out = std::move(out)] { done(out); });
  }
  void shutdown() override {
    std::lock_guard lock(shared_->mutex);
    shared_->shut_down = true;
  }

 private:
  core::EventLoop& loop_;
  std::shared_ptr<Shared> shared_;
};

inline RecipientOutcome answer(RecipientOutcome::Status status, std::string reply) {
  RecipientOutcome o;
  o.status = status;
  o.reply = std::move(reply);
  o.remote_mta = "mx.test [192.0.2.1]";
  return o;
}

inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

inline Recipient recipient(std::string address, Route route = Route::Local,
                           std::string mailbox = "") {
  Recipient r;
  r.address = std::move(address);
  r.route = route;
  r.mailbox = std::move(mailbox);
  return r;
}

struct QueueFixture {
  store::test::TempDir dir;
  std::string store_root = (dir.path() / "store").string();
  std::string queue_path = (dir.path() / "queue").string();
  store::Store store{(fs::create_directories(store_root), store_root)};
  core::WorkerPool workers{16, 10000};
  core::MetricsRegistry metrics;
  std::shared_ptr<RecordingTransport::Shared> transport =
      std::make_shared<RecordingTransport::Shared>();
  QueueConfig config;
  std::map<std::string, core::Endpoint> nodes{{"node2", core::Endpoint{"127.0.0.1", 12025}}};
  std::function<void(const std::string&, std::function<void(AddressRoute)>)> route_address;

  QueueFixture() {
    config.path = queue_path;
    config.retry_schedule = {std::chrono::seconds(1)};
  }

  std::unique_ptr<Queue> make(store::SyncMode sync = store::SyncMode::Batch) {
    QueueDeps deps{
        store, sync,    workers,         metrics, "node1.example.com", "postmaster@example.com",
        nodes, nullptr, {"example.com"}, nullptr};
    deps.route_address = route_address;
    auto shared = transport;
    deps.make_transport = [shared](core::EventLoop& loop) {
      return std::make_unique<RecordingTransport>(loop, shared);
    };
    return std::make_unique<Queue>(config, std::move(deps));
  }

  // What start() does to the folder, for tests that commit without a running
  // scheduler (a "crashed" node): start() and stop() once.
  void prepare_folders() {
    auto queue = make();
    queue->start();
    queue->stop();
  }

  std::string commit(Queue& queue, const std::string& text, Envelope envelope) {
    auto incoming = queue.receive();
    REQUIRE(incoming.has_value());
    // Two writes, LF line ends: the queue stores CRLF.
    REQUIRE((*incoming)->write(text.substr(0, text.size() / 2)).has_value());
    REQUIRE((*incoming)->write(text.substr(text.size() / 2)).has_value());
    auto id = queue.commit(std::move(*incoming), std::move(envelope));
    REQUIRE(id.has_value());
    return *id;
  }

  // The messages of `address`'s `mailbox`, read back through the store.
  std::vector<std::string> messages(const std::string& address,
                                    const std::string& mailbox = "INBOX") {
    auto account = store.account(address);
    REQUIRE(account.has_value());
    auto id = store::test::mailbox_id(**account, mailbox);
    auto list = (*account)->list(id);
    REQUIRE(list.has_value());
    std::vector<std::string> out;
    for (const auto& m : list->messages) {
      auto file = (*account)->open_message(id, m.uid);
      REQUIRE(file.has_value());
      out.push_back(store::test::read_fd(file->fd.get()));
    }
    return out;
  }

  std::size_t files_in(const std::string& sub) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(queue_path + "/" + sub)) ++n;
    return n;
  }
};

}  // namespace postern::node::queue::test
