#include "mapping/ldap_group_check.hpp"

#include <ldap.h>

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "core/log.hpp"
#include "mapping/escape.hpp"

namespace postern::mapping {

namespace {

// Groups one walk may visit before it gives up (and fails closed).
constexpr std::size_t kMaxGroupsVisited = 1024;
// Cached answers kept before the cache is cleared wholesale.
constexpr std::size_t kMaxCacheEntries = 50'000;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string normalize_dn(std::string_view dn) {
  std::string in(dn);
  LDAPDN parsed = nullptr;
  if (ldap_str2dn(in.c_str(), &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS) return lower(in);
  char* out = nullptr;
  int rc = ldap_dn2str(parsed, &out, LDAP_DN_FORMAT_LDAPV3);
  ldap_dnfree(parsed);
  if (rc != LDAP_SUCCESS || out == nullptr) return lower(in);
  std::string result = lower(out);
  ldap_memfree(out);
  return result;
}

std::string member_filter(const std::vector<std::string>& member_attributes,
                          const std::vector<std::string>& dns) {
  std::string f = "(|";
  for (const auto& dn : dns) {
    auto value = escape_filter_value(dn);
    for (const auto& attr : member_attributes) f += fmt::format("({}={})", attr, value);
  }
  f += ")";
  return f;
}

std::string in_chain_filter(std::string_view member_attribute, std::string_view dn) {
  return fmt::format("({}:{}:={})", member_attribute, kInChainRule, escape_filter_value(dn));
}

struct LdapGroupCheck::Walk {
  std::string key;
  std::string target;  // normalised group DN
  std::unordered_set<std::string> visited;
  std::vector<std::string> frontier;
  int depth = 0;
  std::function<void(MembershipResult)> done;
};

LdapGroupCheck::LdapGroupCheck(const LdapConfig& config, LdapPool& pool)
    : config_(config), pool_(pool) {}

void LdapGroupCheck::remember(const std::string& key, MembershipStatus status) {
  if (status == MembershipStatus::TempFail || config_.group_cache_ttl.count() == 0) return;
  std::lock_guard lock(mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_[key] = {status == MembershipStatus::Member, std::chrono::steady_clock::now()};
}

void LdapGroupCheck::check(std::string_view dn, std::string_view group_dn,
                           std::function<void(MembershipResult)> done) {
  std::string user = normalize_dn(dn);
  std::string group = normalize_dn(group_dn);
  std::string key = user + "\n" + group;
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (std::chrono::steady_clock::now() - it->second.second < config_.group_cache_ttl) {
        bool member = it->second.first;
        done({member ? MembershipStatus::Member : MembershipStatus::NotMember, "cached"});
        return;
      }
      cache_.erase(it);
    }
  }
  if (user == group) {
    done({MembershipStatus::Member, "the entry is the group"});
    return;
  }
  if (config_.group_mode == GroupMode::ActiveDirectory) {
    ask_server(std::string(dn), std::string(group_dn), std::move(key), std::move(done));
    return;
  }
  auto walk = std::make_shared<Walk>();
  walk->key = std::move(key);
  walk->target = std::move(group);
  walk->visited.insert(user);
  walk->frontier.emplace_back(dn);
  walk->done = std::move(done);
  walk_step(std::move(walk));
}

void LdapGroupCheck::walk_step(std::shared_ptr<Walk> walk) {
  if (walk->frontier.empty() || walk->depth >= config_.max_group_depth) {
    std::string why =
        walk->frontier.empty()
            ? fmt::format("not a member ({} groups above the entry)", walk->visited.size() - 1)
            : fmt::format("not found within {} levels of nesting", config_.max_group_depth);
    remember(walk->key, MembershipStatus::NotMember);
    walk->done({MembershipStatus::NotMember, why});
    return;
  }
  auto r = std::make_unique<LdapRequest>();
  r->kind = LdapRequest::Kind::Search;
  r->dn = config_.group_base_dn;
  r->scope = LDAP_SCOPE_SUBTREE;
  r->filter = member_filter(config_.member_attributes, walk->frontier);
  r->attributes = {"1.1"};  // DNs only
  r->deadline = LdapClock::now() + config_.search_timeout;
  r->done = [this, walk](LdapReply reply) {
    if (reply.outcome != LdapOutcome::Success ||
        (reply.code != LDAP_SUCCESS && reply.code != LDAP_NO_SUCH_OBJECT)) {
      walk->done({MembershipStatus::TempFail, "group search failed: " + reply.message});
      return;
    }
    std::vector<std::string> next;
    for (const auto& entry : reply.entries) {
      std::string n = normalize_dn(entry.dn);
      if (n == walk->target) {
        remember(walk->key, MembershipStatus::Member);
        walk->done(
            {MembershipStatus::Member, fmt::format("member at nesting level {}", walk->depth + 1)});
        return;
      }
      if (walk->visited.insert(n).second) next.push_back(entry.dn);
    }
    if (walk->visited.size() > kMaxGroupsVisited) {
      core::log_warn("group_walk_too_large").kv("groups", walk->visited.size());
      walk->done({MembershipStatus::NotMember, "too many groups to walk; failing closed"});
      return;
    }
    walk->frontier = std::move(next);
    walk->depth++;
    walk_step(walk);
  };
  pool_.submit(std::move(r));
}

void LdapGroupCheck::ask_server(std::string dn, std::string group, std::string key,
                                std::function<void(MembershipResult)> done) {
  auto r = std::make_unique<LdapRequest>();
  r->kind = LdapRequest::Kind::Search;
  r->dn = std::move(group);
  r->scope = LDAP_SCOPE_BASE;
  r->filter = in_chain_filter(config_.member_attributes.front(), dn);
  r->attributes = {"1.1"};
  r->deadline = LdapClock::now() + config_.search_timeout;
  r->done = [this, key = std::move(key), done = std::move(done)](LdapReply reply) {
    if (reply.outcome != LdapOutcome::Success ||
        (reply.code != LDAP_SUCCESS && reply.code != LDAP_NO_SUCH_OBJECT)) {
      done({MembershipStatus::TempFail, "group search failed: " + reply.message});
      return;
    }
    auto status = reply.entries.empty() ? MembershipStatus::NotMember : MembershipStatus::Member;
    remember(key, status);
    done({status, "in-chain match"});
  };
  pool_.submit(std::move(r));
}

}  // namespace postern::mapping
