#include "mapping/mapping_config.hpp"

#include <fmt/format.h>

#include "mapping/ldap_template.hpp"

namespace postern::mapping {

namespace {

std::vector<std::string> parse_uris(const core::ConfigNode& n) {
  auto uris = n.strings_or("uris", {});
  if (uris.empty()) n.fail("uris", "expected a non-empty array of ldap:// or ldaps:// URIs");
  for (const auto& u : uris) {
    if (u.rfind("ldap://", 0) != 0 && u.rfind("ldaps://", 0) != 0 && u.rfind("ldapi://", 0) != 0) {
      n.fail("uris", fmt::format("expected ldap://, ldaps:// or ldapi:// URIs, found \"{}\"", u));
    }
  }
  return uris;
}

LdapConfig parse_ldap(const core::ConfigNode& n) {
  n.allow_only({"uris", "starttls", "ca_file", "tls_verify", "bind_dn", "bind_password", "base_dn",
                "scope", "user_filter", "attributes", "timeouts", "failback_interval", "pool_size",
                "auth_pool_size", "max_pending", "auth", "group"});
  LdapConfig c;
  c.uris = parse_uris(n);
  c.starttls = n.boolean_or("starttls", false);
  c.ca_file = n.path_or("ca_file", "");
  c.tls_verify = n.boolean_or("tls_verify", true);
  c.bind_dn = n.string_or("bind_dn", "");
  c.bind_password = n.string_or("bind_password", "");
  c.base_dn = n.string("base_dn");
  auto scope = n.choice_or("scope", {"base", "one", "sub"}, "sub");
  c.scope = scope == "base" ? LdapScope::Base : scope == "one" ? LdapScope::One : LdapScope::Sub;

  if (auto a = n.optional_child("attributes")) {
    a->allow_only({"login", "node", "aliases", "state", "services", "quota", "password"});
    c.login_attribute = a->string_or("login", c.login_attribute);
    c.node_attribute = a->string_or("node", c.node_attribute);
    c.alias_attribute = a->string_or("aliases", c.alias_attribute);
    c.state_attribute = a->string_or("state", c.state_attribute);
    c.services_attribute = a->string_or("services", c.services_attribute);
    c.quota_attribute = a->string_or("quota", c.quota_attribute);
    c.password_attribute = a->string_or("password", c.password_attribute);
  }
  // By default an account is found by its address or one of its aliases.
  std::string default_filter =
      c.alias_attribute.empty()
          ? fmt::format("({}=%s)", c.login_attribute)
          : fmt::format("(|({}=%s)({}=%s))", c.login_attribute, c.alias_attribute);
  c.user_filter = n.string_or("user_filter", default_filter);
  if (c.user_filter.empty() || c.user_filter.front() != '(' || c.user_filter.back() != ')') {
    n.fail("user_filter", "expected an LDAP filter in parentheses, e.g. \"(mail=%s)\"");
  }
  if (auto ok = check_template(c.user_filter); !ok) n.fail("user_filter", ok.error());

  if (auto t = n.optional_child("timeouts")) {
    t->allow_only({"connect", "search", "bind"});
    c.connect_timeout = t->seconds_or("connect", 3, 0.05, 300);
    c.search_timeout = t->seconds_or("search", 5, 0.05, 300);
    c.bind_timeout = t->seconds_or("bind", 5, 0.05, 300);
  }
  c.failback_interval = n.seconds_or("failback_interval", 30, 0.1, 86400);
  c.pool_size = static_cast<std::size_t>(n.integer_or("pool_size", 2, 1, 64));
  c.auth_pool_size = static_cast<std::size_t>(n.integer_or("auth_pool_size", 2, 1, 64));
  c.max_pending = static_cast<std::size_t>(n.integer_or("max_pending", 512, 1, 65536));

  if (auto a = n.optional_child("auth")) {
    a->allow_only({"mode", "dn_template"});
    auto mode = a->choice_or("mode", {"search_bind", "dn_template", "compare"}, "search_bind");
    c.auth_mode = mode == "dn_template" ? AuthMode::DnTemplate
                  : mode == "compare"   ? AuthMode::Compare
                                        : AuthMode::SearchBind;
    c.dn_template = a->string_or("dn_template", "");
    if (auto ok = check_template(c.dn_template); !ok) a->fail("dn_template", ok.error());
    if (c.auth_mode == AuthMode::DnTemplate && c.dn_template.empty()) {
      a->fail("dn_template",
              "expected a DN template such as \"uid=%u,ou=people,dc=example,dc=com\" "
              "when auth.mode is \"dn_template\"");
    }
  }
  if (auto g = n.optional_child("group")) {
    g->allow_only({"required", "mode", "member_attributes", "base_dn", "max_depth", "cache_ttl"});
    c.required_group = g->string_or("required", "");
    auto mode = g->choice_or("mode", {"walk", "active_directory"}, "walk");
    c.group_mode = mode == "active_directory" ? GroupMode::ActiveDirectory : GroupMode::Walk;
    c.member_attributes = g->strings_or("member_attributes", c.member_attributes);
    if (c.member_attributes.empty())
      g->fail("member_attributes", "expected at least one attribute");
    c.group_base_dn = g->string_or("base_dn", "");
    c.max_group_depth = static_cast<int>(g->integer_or("max_depth", 8, 1, 64));
    c.group_cache_ttl = g->seconds_or("cache_ttl", 60, 0, 86400);
  }
  if (c.group_base_dn.empty()) c.group_base_dn = c.base_dn;
  return c;
}

}  // namespace

DirectoryConfig parse_directory_config(const core::ConfigNode& n) {
  n.allow_only({"source", "primary_domain", "ldap", "file", "cache"});
  DirectoryConfig c;
  auto source = n.choice_or("source", {"ldap", "file"}, "ldap");
  c.source = source == "file" ? DirectoryConfig::Source::File : DirectoryConfig::Source::Ldap;
  c.primary_domain = n.string_or("primary_domain", "");
  if (c.source == DirectoryConfig::Source::Ldap) {
    c.ldap = parse_ldap(n.child("ldap"));
  } else {
    auto f = n.child("file");
    f.allow_only({"path", "reload_interval"});
    c.file.path = f.resolve_path(f.string("path"));
    c.file.reload_interval = f.seconds_or("reload_interval", 1, 0.05, 3600);
  }
  if (auto cache = n.optional_child("cache")) {
    cache->allow_only({"enabled", "positive_ttl", "negative_ttl", "stale_ttl", "max_entries"});
    c.cache.enabled = cache->boolean_or("enabled", true);
    c.cache.positive_ttl = cache->seconds_or("positive_ttl", 300);
    c.cache.negative_ttl = cache->seconds_or("negative_ttl", 30);
    c.cache.stale_ttl = cache->seconds_or("stale_ttl", 3600);
    c.cache.max_entries =
        static_cast<std::size_t>(cache->integer_or("max_entries", 100000, 1, 100'000'000));
  }
  return c;
}

}  // namespace postern::mapping
