#include <doctest/doctest.h>

#include <string>

#include "core/config.hpp"

using postern::core::ConfigError;
using postern::core::parse_config_text;

namespace {

// The message of the ConfigError `fn` throws, or "" if it throws none.
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("configuration accepts comments and reads typed values") {
  auto c = parse_config_text(R"({
    // a comment
    "name": "node1", /* another */
    "port": 11143,
    "tls": true,
    "timeout": 2.5,
    "uris": ["ldap://a", "ldap://b"],
    "section": { "inner": "x" }
  })",
                             "conf/test.json");
  CHECK(c.string("name") == "node1");
  CHECK(c.integer_or("port", 0, 1, 65535) == 11143);
  CHECK(c.boolean_or("tls", false));
  CHECK(c.seconds_or("timeout", 1).count() == 2500);
  CHECK(c.strings_or("uris", {}).size() == 2);
  CHECK(c.child("section").string("inner") == "x");
  CHECK(c.string_or("missing", "dflt") == "dflt");
}

TEST_CASE("configuration errors name the file, the key and what was expected") {
  auto c = parse_config_text(R"({"port": "eleven", "section": {"mode": "fast"}, "n": 70000})",
                             "conf/node1.json");
  CHECK(error_of([&] { (void)c.integer_or("port", 0, 1, 65535); }) ==
        "conf/node1.json: port: expected an integer from 1 to 65535, found string");
  CHECK(error_of([&] { (void)c.integer_or("n", 0, 1, 65535); }) ==
        "conf/node1.json: n: expected an integer from 1 to 65535, found 70000");
  CHECK(error_of([&] {
          (void)c.child("section").choice_or("mode", {"walk", "active_directory"}, "walk");
        }) ==
        "conf/node1.json: section.mode: expected one of \"walk\", \"active_directory\", found "
        "\"fast\"");
  CHECK(error_of([&] { (void)c.string("name"); }) ==
        "conf/node1.json: name: missing; expected a string");
  CHECK(error_of([&] {
          c.allow_only({"port", "section"});
        }) == "conf/node1.json: n: unknown key; expected one of: port, section");
}

TEST_CASE("a syntax error names the file") {
  auto msg = error_of([] { (void)parse_config_text("{\"a\": }", "x.json"); });
  CHECK(msg.rfind("x.json: not valid JSON", 0) == 0);
  CHECK(error_of([] { (void)parse_config_text("[1]", "x.json"); }) ==
        "x.json: expected a JSON object at the top level");
}

TEST_CASE("relative paths are taken from the configuration file's folder") {
  auto c =
      parse_config_text(R"({"map": "users.map", "abs": "/etc/x"})", "/srv/postern/conf/a.json");
  CHECK(c.path_or("map", "") == "/srv/postern/conf/users.map");
  CHECK(c.path_or("abs", "") == "/etc/x");
}

TEST_CASE("arrays of objects carry their index in error paths") {
  auto c = parse_config_text(R"({"listeners": [{"port": 1}, {"port": "x"}]})", "p.json");
  auto items = c.objects("listeners");
  REQUIRE(items.size() == 2);
  CHECK(error_of([&] { (void)items[1].integer_or("port", 0, 1, 65535); }) ==
        "p.json: listeners[1].port: expected an integer from 1 to 65535, found string");
}
