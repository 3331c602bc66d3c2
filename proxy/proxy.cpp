#include "proxy/proxy.hpp"

#include <atomic>

#include <ctime>
#include <future>
#include <thread>

#include "core/log.hpp"
#include "mapping/caching_directory.hpp"
#include "mapping/make_directory.hpp"

namespace postern::proxy {

namespace {

std::shared_ptr<const Generation> make_generation(std::shared_ptr<const ProxyConfig> config) {
  static std::atomic<std::uint64_t> next_id{1};
  auto g = std::make_shared<Generation>();
  g->id = next_id.fetch_add(1, std::memory_order_relaxed);
  g->directory = std::shared_ptr<mapping::Directory>(mapping::make_directory(config->directory));
  g->config = std::move(config);
  return g;
}

}  // namespace

Proxy::Proxy(ProxyConfig config) : config_(std::make_shared<const ProxyConfig>(std::move(config))) {
  metrics_.gauge("postern_proxy_info", "This proxy's name", {{"proxy", config_->name}}).set(1);
  metrics_.gauge("postern_proxy_start_time_seconds", "When this process started (Unix time)")
      .set(static_cast<std::int64_t>(std::time(nullptr)));
  core::check_addresses_free(config_->listeners, config_->admin, config_->file);
  health_ = std::make_unique<NodeHealth>(config_->health, metrics_);
  health_->set_nodes(config_->nodes);
  throttle_ = std::make_unique<LoginThrottle>(config_->throttle);
  context_ =
      std::make_unique<ProxyContext>(make_generation(config_), *health_, *throttle_, metrics_);
  std::size_t threads = config_->threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (std::size_t i = 0; i < threads; ++i) loops_.push_back(std::make_unique<core::LoopThread>());
  for (const auto& l : config_->listeners) {
    if (services_.count(l->protocol) == 0)
      services_[l->protocol] = make_protocol_service(*context_, l->protocol);
  }
  listeners_.resize(loops_.size());
  std::exception_ptr error;
  std::mutex error_mutex;
  on_every_loop([&](std::size_t i, core::EventLoop& loop) {
    try {
      for (std::size_t k = 0; k < config_->listeners.size(); ++k) {
        const auto& l = *config_->listeners[k];
        listeners_[i].push_back(
            std::make_unique<core::Listener>(loop, l, *services_.at(l.protocol), config_->file,
                                             "listeners[" + std::to_string(k) + "]"));
      }
      if (i == 0) {
        if (config_->admin) {
          admin_ = std::make_unique<core::AdminServer>(loop, *config_->admin, metrics_,
                                                       config_->file, "admin.address");
        }
        health_->start(loop);
        stats_timer_ = std::make_unique<core::Timer>(loop, [this] { publish_cache_stats(); });
        stats_timer_->arm(std::chrono::seconds(1));
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  });
  if (error) {
    on_every_loop([&](std::size_t i, core::EventLoop&) {
      listeners_[i].clear();
      if (i == 0) {
        admin_.reset();
        stats_timer_.reset();
        health_->stop();
      }
    });
    std::rethrow_exception(error);
  }
  for (const auto& l : config_->listeners) {
    core::log_info("listening")
        .kv("proxy", config_->name)
        .kv("listener", l->name)
        .kv("protocol", l->protocol)
        .kv("address", l->address.to_string())
        .kv("tls", l->implicit_tls           ? "implicit"
                   : l->starttls_available() ? "starttls"
                                             : "none")
        .kv("proxy_protocol", l->proxy_protocol ? 1 : 0);
  }
}

Proxy::~Proxy() {
  on_every_loop([&](std::size_t i, core::EventLoop& loop) {
    listeners_[i].clear();
    for (auto& [name, s] : services_) s->close_all(loop);
    context_->pools.of(loop).clear();
    if (i == 0) {
      admin_.reset();
      stats_timer_.reset();
      health_->stop();
    }
  });
  loops_.clear();
  services_.clear();
}

void Proxy::publish_cache_stats() {
  // The routing cache counts by itself; the admin listener shows the
  // increments since the last look.
  auto g = context_->current();
  if (auto* cache = dynamic_cast<mapping::CachingDirectory*>(g->directory.get())) {
    auto st = cache->stats();
    auto& hits = metrics_.counter("postern_proxy_directory_cache_hits_total",
                                  "Logins and lookups answered from the routing cache");
    auto& misses = metrics_.counter("postern_proxy_directory_lookups_total",
                                    "Logins and lookups the directory had to answer");
    if (st.hits >= last_hits_) hits.inc(st.hits - last_hits_);
    if (st.misses >= last_misses_) misses.inc(st.misses - last_misses_);
    last_hits_ = st.hits;
    last_misses_ = st.misses;
    metrics_.gauge("postern_proxy_directory_cache_entries", "Keys in the routing cache")
        .set(static_cast<std::int64_t>(st.entries));
  }
  stats_timer_->arm(std::chrono::seconds(1));
}

void Proxy::reload(ProxyConfig fresh) {
  bool same_listeners = fresh.listeners.size() == config_->listeners.size();
  for (std::size_t i = 0; same_listeners && i < fresh.listeners.size(); ++i) {
    same_listeners =
        fresh.listeners[i]->address.to_string() == config_->listeners[i]->address.to_string() &&
        fresh.listeners[i]->protocol == config_->listeners[i]->protocol;
  }
  if (!same_listeners) {
    core::log_warn("reload").kv("file", fresh.file).kv("listeners", "changed; restart to apply");
  }
  fresh.log.apply(fresh.file);
  health_->set_nodes(fresh.nodes);
  throttle_->reconfigure(fresh.throttle);
  auto next = make_generation(std::make_shared<const ProxyConfig>(std::move(fresh)));
  // The cache counters start again with the new directory.
  loops_.front()->loop().post([this, next] {
    last_hits_ = 0;
    last_misses_ = 0;
    context_->replace(next);
  });
  // Kept node connections belong to the old generation (its addresses and
  // TLS settings): no new session takes them.
  for (auto& l : loops_) {
    core::EventLoop& loop = l->loop();
    loop.post([this, &loop] { context_->pools.of(loop).clear(); });
  }
}

void Proxy::drain() {
  context_->draining = true;
  // Every loop stops accepting before any session is told: a client that
  // hears the goodbye must not get into another loop's listener.
  on_every_loop([&](std::size_t i, core::EventLoop&) {
    for (auto& l : listeners_[i]) l->stop();
  });
  on_every_loop([&](std::size_t, core::EventLoop& loop) {
    for (auto& [name, s] : services_) s->drain(loop);
    // Kept node connections serve no one now.
    context_->pools.of(loop).clear();
  });
}

std::size_t Proxy::sessions() const {
  std::size_t n = 0;
  for (const auto& [name, s] : services_) n += s->sessions();
  return n;
}

void Proxy::on_every_loop(const std::function<void(std::size_t, core::EventLoop&)>& fn) {
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

}  // namespace postern::proxy
