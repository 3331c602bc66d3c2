// key=value logging with levels (STYLE.md rule 11).
//
//   core::log_info("ldap_connect").kv("uri", uri).kv("ok", 1);
//
// emits one line when the temporary LogLine is destroyed:
//   2026-11-21T13:45:00.123Z level=info event=ldap_connect uri=ldap://127.0.0.1:3389 ok=1
//
// Values are sanitised (control and non-ASCII bytes escaped, quotes when they
// contain a space, '"' or '='), and truncated to kMaxValueBytes, because many
// come from the network. Never pass a secret. Thread-safe: lines from several
// threads never interleave.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace postern::core {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3 };

std::string_view log_level_name(LogLevel level);
// Parses "debug" | "info" | "warn" | "error"; false if unknown.
bool parse_log_level(std::string_view text, LogLevel& out);

void set_log_level(LogLevel level);
LogLevel log_level();
// Where lines go: a file opened for append, or stderr when `path` is empty or "-".
// Returns false (and keeps the old destination) if the file cannot be opened.
bool set_log_file(const std::string& path);

// Escapes and truncates one value for a log line.
std::string sanitize_log_value(std::string_view value, std::size_t max_bytes);

class LogLine {
 public:
  static constexpr std::size_t kMaxValueBytes = 256;

  LogLine(LogLevel level, std::string_view event);
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  ~LogLine();

  LogLine& kv(std::string_view key, std::string_view value);
  LogLine& kv(std::string_view key, const std::string& value) {
    return kv(key, std::string_view(value));
  }
  LogLine& kv(std::string_view key, const char* value) { return kv(key, std::string_view(value)); }
  template <class T>
  requires std::is_arithmetic_v<T> LogLine& kv(std::string_view key, T value) {
    if constexpr (std::is_same_v<T, bool>) {
      return kv(key, std::string_view(value ? "1" : "0"));
    } else {
      return kv(key, std::string_view(std::to_string(value)));
    }
  }

 private:
  bool enabled_;
  std::string line_;
};

inline LogLine log_debug(std::string_view event) {
  return LogLine(LogLevel::Debug, event);
}
inline LogLine log_info(std::string_view event) {
  return LogLine(LogLevel::Info, event);
}
inline LogLine log_warn(std::string_view event) {
  return LogLine(LogLevel::Warn, event);
}
inline LogLine log_error(std::string_view event) {
  return LogLine(LogLevel::Error, event);
}

}  // namespace postern::core
