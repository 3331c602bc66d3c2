#include "backend/node/node.hpp"

#include <filesystem>

#include <algorithm>
#include <ctime>
#include <future>

#include "backend/node/mail_transport.hpp"
#include "core/log.hpp"
#include "mapping/make_directory.hpp"

namespace postern::node {

Node::Node(NodeConfig config) : config_(std::move(config)) {
  // Always present, so a scrape shows which node answered and since when.
  metrics_.gauge("postern_node_info", "This node's name", {{"node", config_.name}}).set(1);
  metrics_.gauge("postern_node_start_time_seconds", "When this process started (Unix time)")
      .set(static_cast<std::int64_t>(std::time(nullptr)));
  // Before the queue starts: it cleans the spool, which a node already
  // running on this file would be using.
  core::check_addresses_free(config_.listeners, config_.admin, config_.file);
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
  options.linger = config_.store_linger;
  options.linger_max = config_.store_linger_max;
  store_ = std::make_unique<store::Store>(config_.store_path, options);
  workers_ = std::make_unique<core::WorkerPool>(config_.worker_threads, config_.worker_queue);
  context_.reset(new NodeContext{config_, *directory_, *store_, *workers_, metrics_});
  for (std::size_t i = 0; i < config_.threads; ++i)
    loops_.push_back(std::make_unique<core::LoopThread>());
  start_queue();
  context_->queue = queue_.get();
  for (const auto& l : config_.listeners) {
    if (services_.count(l->protocol) == 0) {
      services_[l->protocol] = node_services().at(l->protocol)(*context_);
    }
  }
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
        // posternctl queue flush: retry every deferred message now.
        admin_->add_action("/queue/flush", [this] {
          queue_->flush();
          return std::string("queue flush requested\n");
        });
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
  if (config_.store_linger.count() > 0) {
    on_every_loop([&](std::size_t i, core::EventLoop& loop) {
      if (i == 0) start_store_sweep(loop);
    });
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

void Node::start_queue() {
  queue::QueueDeps deps{
      .store = *store_,
      .sync = config_.store_sync,
      .workers = *workers_,
      .metrics = metrics_,
      .hostname = config_.smtp.hostname,
      .postmaster = "postmaster@" + config_.smtp.primary_domain,
      .nodes = config_.cluster_smtp,
      .make_transport =
          [this](core::EventLoop& loop) {
            return make_mail_transport(loop, config_, *workers_, metrics_);
          },
      .local_domains = config_.smtp.local_domains,
      .route_address = {},
  };
  // A DSN to one of our users is routed as RCPT TO would route it; the
  // directory answers on loop 0.
  core::EventLoop& directory_loop = loops_.front()->loop();
  deps.route_address = [this, &directory_loop](const std::string& address,
                                               std::function<void(queue::AddressRoute)> done) {
    directory_->lookup(address, directory_loop,
                       [this, done = std::move(done)](mapping::LookupResult r) {
                         queue::AddressRoute route;
                         route.detail = r.detail;
                         if (r.status == mapping::LookupStatus::TempFail) {
                           route.status = queue::AddressRoute::Status::TempFail;
                         } else if (r.status == mapping::LookupStatus::NotFound) {
                           route.status = queue::AddressRoute::Status::NotFound;
                         } else {
                           route.status = queue::AddressRoute::Status::Found;
                           route.recipient.address = r.account.address;
                           if (r.account.node == config_.name) {
                             route.recipient.route = queue::Route::Local;
                           } else {
                             route.recipient.route = queue::Route::Node;
                             route.recipient.node = r.account.node;
                           }
                         }
                         done(std::move(route));
                       });
  };
  queue_ = std::make_unique<queue::Queue>(config_.queue, std::move(deps));
  try {
    queue_->start();
  } catch (const std::exception& e) {
    throw core::ConfigError(config_.file, "queue.path", e.what());
  }
}

void Node::start_store_sweep(core::EventLoop& loop) {
  // Often enough that an account closes soon after its linger ends.
  const auto every = std::clamp<std::chrono::milliseconds>(
      config_.store_linger / 2, std::chrono::milliseconds(100), std::chrono::seconds(5));
  store_sweep_ = std::make_unique<core::Timer>(loop, [this, every] {
    // Closing accounts blocks: never on the loop. One sweep at a time; a
    // full pool skips this round.
    if (!sweep_queued_.exchange(true)) {
      bool queued = workers_->submit([this] {
        store_->sweep();
        sweep_queued_ = false;
      });
      if (!queued) sweep_queued_ = false;
    }
    store_sweep_->arm(every);
  });
  store_sweep_->arm(every);
}

Node::~Node() {
  // Listeners and sessions go with their loops' threads, before what they use.
  // Sessions still open after the drain go with their loops too.
  on_every_loop([&](std::size_t i, core::EventLoop& loop) {
    listeners_[i].clear();
    for (auto& [name, s] : services_) s->close_all(loop);
    if (i == 0) {
      admin_.reset();
      store_sweep_.reset();  // no new sweep; one already queued finishes below
    }
  });
  // The queue stops delivering (messages in flight stay queued for the next
  // start); its loop's pending completions are dropped with it.
  if (queue_) queue_->stop();
  // Worker jobs still running post their completions to the loops: finish
  // them while the loops still run (the completions find no session and do
  // nothing), then stop the loops.
  workers_.reset();
  loops_.clear();
  services_.clear();
  // The accounts the store kept open close here, on this thread, before the
  // store and what it uses go.
  store_->drop_lingering();
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
  // Every loop stops accepting before any session is told: a client that
  // hears the goodbye must not get into another loop's listener.
  on_every_loop([&](std::size_t i, core::EventLoop&) {
    for (auto& l : listeners_[i]) l->stop();
  });
  on_every_loop([&](std::size_t, core::EventLoop& loop) {
    for (auto& [name, s] : services_) s->drain(loop);
  });
}

std::size_t Node::sessions() const {
  std::size_t n = 0;
  for (const auto& [name, s] : services_) n += s->sessions();
  return n;
}

}  // namespace postern::node
