// Configuration loading: one JSON file per process, comments allowed, validated
// into plain structs before anything serves (DESIGN.md section 7).
//
// Every accessor of ConfigNode throws ConfigError on a missing or ill-typed
// value; the message names the file, the key (as a dotted path) and what was
// expected, e.g.
//   conf/proxy.json: directory.ldap.uris: expected a non-empty array of ldap:// or ldaps:// URIs
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
// Only the declaration: json.hpp costs every file that includes it almost two
// seconds of parsing, and only config.cpp reads JSON through it.
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postern::core {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& file, const std::string& key, const std::string& expected);
  const std::string& file() const { return file_; }
  const std::string& key() const { return key_; }

 private:
  std::string file_;
  std::string key_;
};

// A JSON object inside a configuration file, with the file name and the key
// path that led to it. Cheap to copy (it shares the document).
class ConfigNode {
 public:
  ConfigNode(std::shared_ptr<const nlohmann::json> root, const nlohmann::json* node,
             std::string file, std::string path);

  const std::string& file() const { return file_; }
  // The dotted path of this node ("" for the root) or of one of its keys.
  const std::string& path() const { return path_; }
  std::string path_of(std::string_view key) const;

  bool has(std::string_view key) const;
  // The keys of this object (sorted, as nlohmann::json keeps them).
  std::vector<std::string> keys() const;
  ConfigNode child(std::string_view key) const;
  std::optional<ConfigNode> optional_child(std::string_view key) const;
  std::vector<ConfigNode> objects(std::string_view key) const;  // array of objects; [] if absent

  std::string string(std::string_view key) const;
  std::string string_or(std::string_view key, std::string_view fallback) const;
  std::vector<std::string> strings_or(std::string_view key,
                                      std::vector<std::string> fallback) const;
  std::int64_t integer_or(std::string_view key, std::int64_t fallback, std::int64_t min,
                          std::int64_t max) const;
  bool boolean_or(std::string_view key, bool fallback) const;
  // A duration given as a number of seconds (fractions allowed).
  std::chrono::milliseconds seconds_or(std::string_view key, double fallback_seconds,
                                       double min_seconds = 0.0,
                                       double max_seconds = 86400.0 * 365) const;
  // A non-empty array of durations in seconds, e.g. a retry schedule [60, 300, 900].
  std::vector<std::chrono::milliseconds> seconds_list_or(
      std::string_view key, std::vector<std::chrono::milliseconds> fallback, double min_seconds,
      double max_seconds) const;
  // One of a fixed set of words.
  std::string choice_or(std::string_view key, std::initializer_list<std::string_view> choices,
                        std::string_view fallback) const;
  // A file path; a relative one is taken relative to the configuration file.
  std::string path_or(std::string_view key, std::string_view fallback) const;
  std::string resolve_path(std::string_view path) const;

  // Unknown keys are errors: a typo must not silently fall back to a default.
  void allow_only(std::initializer_list<std::string_view> keys) const;

  [[noreturn]] void fail(std::string_view key, std::string_view expected) const;

 private:
  const nlohmann::json* find(std::string_view key) const;

  std::shared_ptr<const nlohmann::json> root_;
  const nlohmann::json* node_;
  std::string file_;
  std::string path_;
};

// Reads and parses a file; throws ConfigError (syntax errors carry the byte offset).
ConfigNode load_config_file(const std::string& file);
// Parses text as if it came from `file` (used by tests and `-t` checks).
ConfigNode parse_config_text(std::string_view text, const std::string& file);

}  // namespace postern::core
