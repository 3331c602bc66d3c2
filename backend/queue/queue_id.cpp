#include "backend/queue/queue_id.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <ctime>

namespace postern::node::queue {

namespace {

std::uint32_t random_u32() {
  std::uint32_t value = 0;
  if (::getrandom(&value, sizeof value, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof value)) {
    // No entropy yet (early boot): the clock's nanoseconds still differ
    // between processes; commit's no-replace rename catches the rest.
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    value = static_cast<std::uint32_t>(ts.tv_nsec) ^ static_cast<std::uint32_t>(::getpid());
  }
  return value;
}

// Starts at a random value so that a restart within the same second does not
// walk the same sequence again.
std::atomic<std::uint32_t> counter{random_u32()};

}  // namespace

std::string make_queue_id() {
  auto now = static_cast<std::uint64_t>(std::time(nullptr)) & 0xFFFFFFFFFULL;
  std::uint32_t n = counter.fetch_add(1, std::memory_order_relaxed) & 0xFFFFF;
  std::uint32_t r = random_u32() & 0xFFFF;
  return fmt::format("{:09X}{:05X}{:04X}", now, n, r);
}

bool is_queue_id(std::string_view text) {
  if (text.size() < kQueueIdMinLength || text.size() > kQueueIdMaxLength) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace postern::node::queue
