#include "core/config.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace postern::core {

namespace {

std::string join_path(const std::string& base, std::string_view key) {
  if (base.empty()) return std::string(key);
  return base + "." + std::string(key);
}

const char* type_name(const nlohmann::json& j) {
  return j.type_name();
}

}  // namespace

ConfigError::ConfigError(const std::string& file, const std::string& key,
                         const std::string& expected)
    : std::runtime_error(key.empty() ? fmt::format("{}: {}", file, expected)
                                     : fmt::format("{}: {}: {}", file, key, expected)),
      file_(file),
      key_(key) {}

ConfigNode::ConfigNode(std::shared_ptr<const nlohmann::json> root, const nlohmann::json* node,
                       std::string file, std::string path)
    : root_(std::move(root)), node_(node), file_(std::move(file)), path_(std::move(path)) {}

std::string ConfigNode::path_of(std::string_view key) const {
  return join_path(path_, key);
}

void ConfigNode::fail(std::string_view key, std::string_view expected) const {
  throw ConfigError(file_, key.empty() ? path_ : path_of(key), std::string(expected));
}

const nlohmann::json* ConfigNode::find(std::string_view key) const {
  auto it = node_->find(std::string(key));
  if (it == node_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool ConfigNode::has(std::string_view key) const {
  return find(key) != nullptr;
}

ConfigNode ConfigNode::child(std::string_view key) const {
  const auto* j = find(key);
  if (j == nullptr) fail(key, "missing; expected an object");
  if (!j->is_object()) fail(key, fmt::format("expected an object, found {}", type_name(*j)));
  return ConfigNode(root_, j, file_, path_of(key));
}

std::optional<ConfigNode> ConfigNode::optional_child(std::string_view key) const {
  if (!has(key)) return std::nullopt;
  return child(key);
}

std::vector<ConfigNode> ConfigNode::objects(std::string_view key) const {
  std::vector<ConfigNode> out;
  const auto* j = find(key);
  if (j == nullptr) return out;
  if (!j->is_array())
    fail(key, fmt::format("expected an array of objects, found {}", type_name(*j)));
  for (std::size_t i = 0; i < j->size(); ++i) {
    const auto& item = (*j)[i];
    std::string item_path = fmt::format("{}[{}]", path_of(key), i);
    if (!item.is_object()) {
      throw ConfigError(file_, item_path,
                        fmt::format("expected an object, found {}", type_name(item)));
    }
    out.emplace_back(root_, &item, file_, item_path);
  }
  return out;
}

std::string ConfigNode::string(std::string_view key) const {
  const auto* j = find(key);
  if (j == nullptr) fail(key, "missing; expected a string");
  if (!j->is_string()) fail(key, fmt::format("expected a string, found {}", type_name(*j)));
  return j->get<std::string>();
}

std::string ConfigNode::string_or(std::string_view key, std::string_view fallback) const {
  if (!has(key)) return std::string(fallback);
  return string(key);
}

std::vector<std::string> ConfigNode::strings_or(std::string_view key,
                                                std::vector<std::string> fallback) const {
  const auto* j = find(key);
  if (j == nullptr) return fallback;
  if (j->is_string()) return {j->get<std::string>()};
  if (!j->is_array())
    fail(key, fmt::format("expected an array of strings, found {}", type_name(*j)));
  std::vector<std::string> out;
  for (const auto& item : *j) {
    if (!item.is_string()) fail(key, "expected an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::int64_t ConfigNode::integer_or(std::string_view key, std::int64_t fallback, std::int64_t min,
                                    std::int64_t max) const {
  const auto* j = find(key);
  if (j == nullptr) return fallback;
  if (!j->is_number_integer()) {
    fail(key, fmt::format("expected an integer from {} to {}, found {}", min, max, type_name(*j)));
  }
  auto v = j->get<std::int64_t>();
  if (v < min || v > max)
    fail(key, fmt::format("expected an integer from {} to {}, found {}", min, max, v));
  return v;
}

bool ConfigNode::boolean_or(std::string_view key, bool fallback) const {
  const auto* j = find(key);
  if (j == nullptr) return fallback;
  if (!j->is_boolean()) fail(key, fmt::format("expected true or false, found {}", type_name(*j)));
  return j->get<bool>();
}

std::chrono::milliseconds ConfigNode::seconds_or(std::string_view key, double fallback_seconds,
                                                 double min_seconds, double max_seconds) const {
  const auto* j = find(key);
  double v = fallback_seconds;
  if (j != nullptr) {
    if (!j->is_number()) {
      fail(key, fmt::format("expected a number of seconds, found {}", type_name(*j)));
    }
    v = j->get<double>();
    if (!std::isfinite(v) || v < min_seconds || v > max_seconds) {
      fail(key, fmt::format("expected a number of seconds from {} to {}, found {}", min_seconds,
                            max_seconds, v));
    }
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(v * 1000.0)));
}

std::vector<std::chrono::milliseconds> ConfigNode::seconds_list_or(
    std::string_view key, std::vector<std::chrono::milliseconds> fallback, double min_seconds,
    double max_seconds) const {
  const auto* j = find(key);
  if (j == nullptr) return fallback;
  auto expected =
      fmt::format("expected a non-empty array of seconds from {} to {}", min_seconds, max_seconds);
  if (!j->is_array() || j->empty()) fail(key, expected);
  std::vector<std::chrono::milliseconds> out;
  for (const auto& item : *j) {
    if (!item.is_number()) fail(key, expected);
    double v = item.get<double>();
    if (!std::isfinite(v) || v < min_seconds || v > max_seconds) fail(key, expected);
    out.emplace_back(static_cast<std::int64_t>(std::llround(v * 1000.0)));
  }
  return out;
}

std::string ConfigNode::choice_or(std::string_view key,
                                  std::initializer_list<std::string_view> choices,
                                  std::string_view fallback) const {
  std::string v = string_or(key, fallback);
  for (auto c : choices) {
    if (v == c) return v;
  }
  std::string list;
  for (auto c : choices) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", c);
  fail(key, fmt::format("expected one of {}, found \"{}\"", list, v));
}

std::string ConfigNode::resolve_path(std::string_view p) const {
  std::filesystem::path path(p);
  if (path.is_absolute() || p.empty()) return std::string(p);
  return (std::filesystem::path(file_).parent_path() / path).lexically_normal().string();
}

std::string ConfigNode::path_or(std::string_view key, std::string_view fallback) const {
  std::string v = string_or(key, fallback);
  return resolve_path(v);
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : node_->items()) out.push_back(k);
  return out;
}

void ConfigNode::allow_only(std::initializer_list<std::string_view> keys) const {
  for (const auto& [k, v] : node_->items()) {
    bool known = false;
    for (auto allowed : keys) known = known || k == allowed;
    if (!known) {
      std::string list;
      for (auto allowed : keys) list += fmt::format("{}{}", list.empty() ? "" : ", ", allowed);
      fail(k, fmt::format("unknown key; expected one of: {}", list));
    }
  }
}

ConfigNode parse_config_text(std::string_view text, const std::string& file) {
  std::shared_ptr<nlohmann::json> root;
  try {
    root = std::make_shared<nlohmann::json>(nlohmann::json::parse(
        text.begin(), text.end(), nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true));
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError(file, "", fmt::format("not valid JSON (comments allowed): {}", e.what()));
  }
  if (!root->is_object()) throw ConfigError(file, "", "expected a JSON object at the top level");
  return ConfigNode(root, root.get(), file, "");
}

ConfigNode load_config_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file, "", "cannot open the configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config_text(text.str(), file);
}

}  // namespace postern::core
