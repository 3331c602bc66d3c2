#include "backend/queue/queue_config.hpp"

#include "core/config.hpp"

namespace postern::node::queue {

QueueConfig QueueConfig::from_config(const core::ConfigNode& node,
                                     const std::string& default_path) {
  node.allow_only({"path", "retry_schedule", "max_lifetime", "max_deliveries"});
  QueueConfig c;
  c.path = node.path_or("path", default_path);
  if (c.path.empty()) node.fail("path", "expected the queue's folder");
  // At least a second (tests use short ones); at most a month: RFC 5321 4.5.4.1 suggests 4-5 days.
  c.max_lifetime = std::chrono::duration_cast<std::chrono::seconds>(
      node.seconds_or("max_lifetime", 5.0 * 24 * 3600, 1, 31.0 * 24 * 3600));
  std::vector<std::chrono::milliseconds> fallback;
  for (auto s : c.retry_schedule) fallback.emplace_back(s);
  c.retry_schedule.clear();
  for (auto wait : node.seconds_list_or("retry_schedule", fallback, 1, 7.0 * 24 * 3600))
    c.retry_schedule.push_back(std::chrono::duration_cast<std::chrono::seconds>(wait));
  c.max_deliveries = static_cast<std::size_t>(node.integer_or("max_deliveries", 100, 1, 100'000));
  return c;
}

std::chrono::seconds QueueConfig::retry_delay(std::uint32_t attempts) const {
  if (retry_schedule.empty()) return std::chrono::seconds(60);
  std::size_t index = attempts == 0 ? 0 : attempts - 1;
  if (index >= retry_schedule.size()) index = retry_schedule.size() - 1;
  return retry_schedule[index];
}

}  // namespace postern::node::queue
