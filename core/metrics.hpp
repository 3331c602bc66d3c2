// Prometheus metrics: counters and gauges with fixed label sets, updated
// lock-free from any thread, rendered in the text exposition format for an
// admin listener's GET /metrics.
//
//   auto& logins = registry.counter("postern_logins_total", "Logins by result",
//                                   {{"proto", "imap"}, {"result", "ok"}});
//   logins.inc();
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace postern::core {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

class MetricsRegistry {
 public:
  // The same name and labels always return the same object; references stay
  // valid for the registry's life. Thread-safe.
  Counter& counter(const std::string& name, const std::string& help,
                   const MetricLabels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  // Prometheus text format, families sorted by name.
  std::string render() const;

 private:
  struct Family {
    std::string help;
    bool is_counter = true;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered label set
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

// Escapes a label value per the exposition format.
std::string escape_label_value(const std::string& v);

}  // namespace postern::core
