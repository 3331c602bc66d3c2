// One connection to the directory, with requests pipelined on it.
//
// An LdapConnection is owned and used by exactly one thread (an LdapPool
// worker); nothing here is thread-safe. Connecting and the service bind are
// synchronous but bounded by the configured timeouts, and happen only on that
// worker thread, never on a session's loop. Once connected, requests are sent
// asynchronously (many in flight) and their results are collected with
// poll_results() when the descriptor is readable.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/secret.hpp"
#include "mapping/mapping_config.hpp"

typedef struct ldap LDAP;  // NOLINT: libldap's own spelling

namespace postern::mapping {

using LdapClock = std::chrono::steady_clock;

struct LdapEntry {
  std::string dn;
  std::map<std::string, std::vector<std::string>> attributes;  // names as the server sent them
  // Values of `name`, matched case-insensitively; empty if absent.
  const std::vector<std::string>& values(std::string_view name) const;
};

enum class LdapOutcome {
  Success,      // the operation completed; see `code` (e.g. LDAP_COMPARE_TRUE)
  Unavailable,  // no connection could be made, or it broke: a temporary failure
  Timeout,      // no answer before the deadline
  Overloaded,   // too many requests queued
};

struct LdapReply {
  LdapOutcome outcome = LdapOutcome::Unavailable;
  int code = -1;  // the LDAP result code when outcome == Success
  std::string message;
  std::vector<LdapEntry> entries;
};

struct LdapRequest {
  enum class Kind { Search, Bind, Compare };
  Kind kind = Kind::Search;
  std::string dn;  // search base, bind DN or compare DN
  int scope = 2;   // LDAP_SCOPE_SUBTREE
  std::string filter;
  std::vector<std::string> attributes;  // search: attributes to return ("1.1" for none)
  std::string attribute;                // compare: attribute
  core::Secret secret;                  // bind: password; compare: asserted value
  LdapClock::time_point deadline;
  bool retried = false;  // a search is retried once on another connection after a break
  // Runs on the pool's worker thread; must be quick (post elsewhere, or submit a
  // next request). Called exactly once, unless the pool is being destroyed.
  std::function<void(LdapReply)> done;
};

class LdapConnection {
 public:
  enum class Role { Search, Auth };

  LdapConnection(const LdapConfig& config, Role role, std::string name);
  LdapConnection(const LdapConnection&) = delete;
  LdapConnection& operator=(const LdapConnection&) = delete;
  ~LdapConnection();

  bool connected() const { return ld_ != nullptr; }
  // The index in config.uris of the server we are connected to, or -1.
  int server_index() const { return server_index_; }
  LdapClock::time_point connected_since() const { return connected_since_; }

  // Tries the URIs in order, from the first. True when one accepted the
  // connection (and the service bind, for the search role).
  bool connect();
  // Tries only the first URI (fail-back). On success replaces the current
  // connection, which must have nothing pending.
  bool reconnect_to_primary();
  // Closes the connection; whatever was pending becomes an orphan.
  void disconnect(const std::string& reason);

  // The socket to poll for readability, or -1.
  int descriptor() const;
  std::size_t pending() const { return pending_.size(); }

  // Sends a request. When the connection turns out to be broken, the request
  // joins the orphans (see take_orphans()).
  void send(std::unique_ptr<LdapRequest> request);
  // Collects every result that has arrived, without blocking, completing
  // requests. Returns false when the connection broke.
  bool poll_results();
  // Requests that were pending (or being sent) when the connection broke; the
  // pool retries or fails them.
  std::vector<std::unique_ptr<LdapRequest>> take_orphans();
  // Abandons and fails with Timeout every request past its deadline.
  void expire(LdapClock::time_point now);
  // The earliest deadline among pending requests, or time_point::max().
  LdapClock::time_point next_deadline() const;

 private:
  struct Pending {
    std::unique_ptr<LdapRequest> request;
    std::vector<LdapEntry> entries;
  };

  LDAP* open(const std::string& uri, std::string& error);
  void handle_message(void* message);

  const LdapConfig& config_;
  Role role_;
  std::string name_;
  LDAP* ld_ = nullptr;
  int server_index_ = -1;
  LdapClock::time_point connected_since_{};
  std::unordered_map<int, Pending> pending_;  // by message id
  std::vector<std::unique_ptr<LdapRequest>> orphans_;
};

}  // namespace postern::mapping
