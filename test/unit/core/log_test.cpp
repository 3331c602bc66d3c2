#include <doctest/doctest.h>

#include "core/log.hpp"

using postern::core::sanitize_log_value;

TEST_CASE("log values from the network are escaped and truncated") {
  CHECK(sanitize_log_value("alice@example.com", 256) == "alice@example.com");
  CHECK(sanitize_log_value("a\r\nb", 256) == "a\\x0d\\x0ab");
  CHECK(sanitize_log_value("say \"hi\"", 256) == "say \\\"hi\\\"");
  CHECK(sanitize_log_value(std::string_view("\0\x7f\xff", 3), 256) == "\\x00\\x7f\\xff");
  CHECK(sanitize_log_value("abcdef", 3) == "abc...");
}

TEST_CASE("log levels parse by name") {
  postern::core::LogLevel l{};
  CHECK(postern::core::parse_log_level("warn", l));
  CHECK(l == postern::core::LogLevel::Warn);
  CHECK_FALSE(postern::core::parse_log_level("loud", l));
}
