#include "core/log.hpp"

#include <fmt/format.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace postern::core {

namespace {

std::atomic<LogLevel> g_level{LogLevel::Info};
std::mutex g_mutex;
std::FILE* g_out = nullptr;  // guarded by g_mutex; nullptr means stderr

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=') return true;
  }
  return false;
}

}  // namespace

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

bool parse_log_level(std::string_view text, LogLevel& out) {
  for (auto l : {LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error}) {
    if (text == log_level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

void set_log_level(LogLevel level) {
  g_level.store(level);
}
LogLevel log_level() {
  return g_level.load();
}

bool set_log_file(const std::string& path) {
  std::FILE* f = nullptr;
  if (!path.empty() && path != "-") {
    f = std::fopen(path.c_str(), "ae");
    if (f == nullptr) return false;
  }
  std::lock_guard lock(g_mutex);
  if (g_out != nullptr) std::fclose(g_out);
  g_out = f;
  return true;
}

std::string sanitize_log_value(std::string_view value, std::size_t max_bytes) {
  std::string out;
  bool truncated = value.size() > max_bytes;
  if (truncated) value = value.substr(0, max_bytes);
  out.reserve(value.size() + 8);
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (truncated) out += "...";
  return out;
}

LogLine::LogLine(LogLevel level, std::string_view event) : enabled_(level >= g_level.load()) {
  if (!enabled_) return;
  line_ = fmt::format("{} level={} event={}", timestamp(), log_level_name(level),
                      sanitize_log_value(event, kMaxValueBytes));
}

LogLine& LogLine::kv(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  std::string v = sanitize_log_value(value, kMaxValueBytes);
  line_ += ' ';
  line_ += key;
  line_ += '=';
  if (needs_quotes(v)) {
    line_ += '"';
    line_ += v;
    line_ += '"';
  } else {
    line_ += v;
  }
  return *this;
}

LogLine::~LogLine() {
  if (!enabled_) return;
  line_ += '\n';
  std::lock_guard lock(g_mutex);
  std::FILE* out = g_out != nullptr ? g_out : stderr;
  std::fwrite(line_.data(), 1, line_.size(), out);
  std::fflush(out);
}

}  // namespace postern::core
