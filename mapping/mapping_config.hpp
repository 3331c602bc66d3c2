// The "directory" section of a configuration file, validated into structs.
//
//   "directory": {
//     "source": "ldap",                 // or "file"
//     "primary_domain": "example.com",
//     "ldap": { ... LdapConfig ... },
//     "file": { "path": "users.map", "reload_interval": 1 },
//     "cache": { "positive_ttl": 300, "negative_ttl": 30, "stale_ttl": 3600, "max_entries": 100000
//     }
//   }
//
// Defaults are those of DESIGN.md section 4 and misc.schema. conf/ holds
// commented examples.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace postern::mapping {

using std::chrono::milliseconds;

struct CacheConfig {
  bool enabled = true;
  milliseconds positive_ttl{300'000};
  milliseconds negative_ttl{30'000};
  // How long past its TTL an entry may still be served while the source fails.
  milliseconds stale_ttl{3'600'000};
  std::size_t max_entries = 100'000;
};

struct FileSourceConfig {
  std::string path;  // resolved against the configuration file's directory
  milliseconds reload_interval{1'000};
};

enum class LdapScope { Base, One, Sub };
enum class AuthMode { SearchBind, DnTemplate, Compare };
enum class GroupMode { Walk, ActiveDirectory };

struct LdapConfig {
  std::vector<std::string> uris;  // tried in order; fail back to the first
  bool starttls = false;          // for ldap:// URIs; ldaps:// is TLS already
  std::string ca_file;
  bool tls_verify = true;  // verify the server certificate (and its name)

  std::string bind_dn;  // service account; empty = anonymous
  std::string bind_password;

  std::string base_dn;
  LdapScope scope = LdapScope::Sub;
  // %u local part, %d domain, %s whole address; each substituted RFC 4515-escaped.
  // The default is built from the login and alias attributes.
  std::string user_filter = "(|(mail=%s)(mailAlternateAddress=%s))";

  std::string login_attribute = "mail";
  std::string node_attribute = "mailHost";
  std::string alias_attribute = "mailAlternateAddress";
  std::string state_attribute = "posternAccountState";
  std::string services_attribute = "posternServices";
  std::string quota_attribute = "posternQuota";
  std::string password_attribute = "userPassword";  // for auth mode "compare"

  milliseconds connect_timeout{3'000};
  milliseconds search_timeout{5'000};
  milliseconds bind_timeout{5'000};
  milliseconds failback_interval{30'000};  // how often to retry the first URI

  std::size_t pool_size = 2;       // connections for searches (pipelined)
  std::size_t auth_pool_size = 2;  // connections for binds as users
  std::size_t max_pending = 512;   // in-flight requests per connection

  AuthMode auth_mode = AuthMode::SearchBind;
  // For "dn_template": e.g. "uid=%u,ou=people,dc=example,dc=com"; values RFC 4514-escaped.
  std::string dn_template;

  std::string required_group;  // DN; empty = no group required
  GroupMode group_mode = GroupMode::Walk;
  std::vector<std::string> member_attributes{"member", "uniqueMember"};
  std::string group_base_dn;  // defaults to base_dn
  int max_group_depth = 8;
  milliseconds group_cache_ttl{60'000};
};

struct DirectoryConfig {
  enum class Source { Ldap, File };
  Source source = Source::Ldap;
  std::string primary_domain;
  LdapConfig ldap;
  FileSourceConfig file;
  CacheConfig cache;
};

// Reads `node` (the "directory" object). Throws core::ConfigError naming the key.
DirectoryConfig parse_directory_config(const core::ConfigNode& node);

}  // namespace postern::mapping
