#include "backend/node/node.hpp"

#include <filesystem>

#include <ctime>
#include <future>

#include "core/log.hpp"
#include "mapping/make_directory.hpp"

namespace postern::node {

Node::Node(NodeConfig config) : config_(std::move(config)) {
  // Always present, so a scrape shows which node answered and since when.
  metrics_.gauge("postern_node_info", "This node's name", {{"node", config_.name}}).set(1);
  metrics_.gauge("postern_node_start_time_seconds", "When this process started (Unix time)")
      .set(static_cast<std::int64_t>(std::time(nullptr)));
  directory_ = mapping::make_directory(config_.directory);
  // The store's root is created if missing (like a spool directory), never
  // silently elsewhere: a path we cannot create is a configuration error.
  std::error_code ec;
  std::filesystem::create_directories(config_.store_path, ec);
  if (ec) {
    throw core::ConfigError(config_.file, "node.store",
                            "a directory we can create and write (" + ec.message() + ")");
  }
  store::StoreOptions options;
  options.sync_mode = config_.store_sync;
  store_ = std::make_unique<store::Store>(config_.store_path, options);
  workers_ = std::make_unique<core::WorkerPool>(config_.worker_threads, config_.worker_queue);
  context_.reset(new NodeContext{config_, *directory_, *store_, *workers_, metrics_});
  for (const auto& l : config_.listeners) {
    if (services_.count(l->protocol) == 0) {
      services_[l->protocol] = node_services().at(l->protocol)(*context_);
    }
  }
  for (std::size_t i = 0; i < config_.threads; ++i)
    loops_.push_back(std::make_unique<core::LoopThread>());
  listeners_.resize(loops_.size());
  // Listeners and the admin server live on their loops; a bind error on any
  // loop stops the start.
  std::exception_ptr error;
  std::mutex error_mutex;
  on_every_loop([&](std::size_t i, core::EventLoop& loop) {
    try {
      for (std::size_t k = 0; k < config_.listeners.size(); ++k) {
        const auto& l = *config_.listeners[k];
        listeners_[i].push_back(
            std::make_unique<core::Listener>(loop, l, *services_.at(l.protocol), config_.file,
                                             "listeners[" + std::to_string(k) + "]"));
      }
      if (i == 0 && config_.admin) {
        admin_ = std::make_unique<core::AdminServer>(loop, *config_.admin, metrics_, config_.file,
                                                     "admin.address");
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  });
  if (error) {
    on_every_loop([&](std::size_t i, core::EventLoop&) { listeners_[i].clear(); });
    admin_.reset();
    std::rethrow_exception(error);
  }
  for (const auto& l : config_.listeners) {
    core::log_info("listening")
        .kv("node", config_.name)
        .kv("listener", l->name)
        .kv("protocol", l->protocol)
        .kv("address", l->address.to_string())
        .kv("tls", l->implicit_tls           ? "implicit"
                   : l->starttls_available() ? "starttls"
                                             : "none");
  }
}

Node::~Node() {
  // Listeners and sessions go with their loops' threads, before what they use.
  // Sessions still open after the drain go with their loops too.
  on_every_loop([&](std::size_t i, core::EventLoop& loop) {
    listeners_[i].clear();
    for (auto& [name, s] : services_) s->close_all(loop);
    if (i == 0) admin_.reset();
  });
  // Worker jobs still running post their completions to the loops: finish
  // them while the loops still run (the completions find no session and do
  // nothing), then stop the loops.
  workers_.reset();
  loops_.clear();
  services_.clear();
}

void Node::on_every_loop(const std::function<void(std::size_t, core::EventLoop&)>& fn) {
  std::vector<std::future<void>> done;
  for (std::size_t i = 0; i < loops_.size(); ++i) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    core::EventLoop& loop = loops_[i]->loop();
    loop.post([&fn, i, &loop, p] {
      fn(i, loop);
      p->set_value();
    });
  }
  for (auto& f : done) f.wait();
}

void Node::drain() {
  context_->draining = true;
  on_every_loop([&](std::size_t i, core::EventLoop& loop) {
    for (auto& l : listeners_[i]) l->stop();
    for (auto& [name, s] : services_) s->drain(loop);
  });
}

std::size_t Node::sessions() const {
  std::size_t n = 0;
  for (const auto& [name, s] : services_) n += s->sessions();
  return n;
}

}  // namespace postern::node
