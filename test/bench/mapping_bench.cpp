// Mapping-layer benchmark (scripts/bench mapping).
//
//   mapping_bench URI COUNT SECONDS
//
// Against a slapd holding bench users user0..user{COUNT-1}@example.com (all in
// cn=mailusers), measures for SECONDS each:
//   slapd raw      the directory's own capacity for the same user search:
//                  libldap, asynchronous, 2 connections x 64 searches in flight
//   uncached       LdapDirectory::lookup, 128 in flight, distinct users
//   cached         CachingDirectory over it, warm
//   auth           LdapDirectory::authenticate (search + bind + group walk)
//   auth cached    CachingDirectory::authenticate, warm
// and prints one line each, then the ratio uncached / slapd raw.
#include <ldap.h>
#include <poll.h>

#include <fmt/format.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "core/event_loop.hpp"
#include "core/log.hpp"
#include "mapping/caching_directory.hpp"
#include "mapping/ldap_directory.hpp"

using namespace postern;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_uri;
int g_users = 1000;
double g_seconds = 3;

std::string user(long i) {
  return fmt::format("user{}@example.com", i % g_users);
}

mapping::LdapConfig ldap_config() {
  mapping::LdapConfig c;
  c.uris = {g_uri};
  c.bind_dn = "cn=postern,dc=example,dc=com";
  c.bind_password = "postern-secret";
  c.base_dn = "ou=people,dc=example,dc=com";
  c.required_group = "cn=mailusers,ou=groups,dc=example,dc=com";
  c.group_base_dn = "ou=groups,dc=example,dc=com";
  c.group_cache_ttl = std::chrono::milliseconds(0);  // measure the walk, not its cache
  c.pool_size = 2;
  c.auth_pool_size = 4;
  return c;
}

using Call = std::function<void(long, core::EventLoop&, std::function<void(bool)>)>;

// Keeps `depth` calls in flight on one loop for g_seconds; returns calls/s.
double drive(int depth, const Call& call) {
  core::EventLoop loop;
  long issued = 0, completed = 0, failed = 0;
  auto end = Clock::now() + std::chrono::duration<double>(g_seconds);
  auto start = Clock::now();
  std::function<void()> next = [&] {
    long i = issued++;
    call(i, loop, [&](bool ok) {
      ++completed;
      if (!ok) ++failed;
      if (Clock::now() < end) {
        next();
      } else if (completed == issued) {
        loop.stop();
      }
    });
  };
  loop.post([&] {
    for (int i = 0; i < depth; ++i) next();
  });
  loop.run();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed > 0) std::fprintf(stderr, "  (%ld of %ld calls failed)\n", failed, completed);
  return static_cast<double>(completed - failed) / secs;
}

Call lookups(mapping::Directory& d) {
  return [&d](long i, core::EventLoop& loop, std::function<void(bool)> done) {
    d.lookup(user(i), loop, [done = std::move(done)](mapping::LookupResult r) {
      done(r.status == mapping::LookupStatus::Found);
    });
  };
}

Call logins(mapping::Directory& d) {
  return [&d](long i, core::EventLoop& loop, std::function<void(bool)> done) {
    d.authenticate(user(i), core::Secret("bench-secret"), loop,
                   [done = std::move(done)](mapping::AuthResult r) {
                     done(r.status == mapping::AuthStatus::Ok);
                   });
  };
}

// slapd's own capacity: raw asynchronous searches, the same filter Postern
// sends, pipelined on `conns` connections with `depth` in flight each.
double slapd_raw(int conns, int depth) {
  std::atomic<long> total{0};
  std::vector<std::thread> threads;
  auto end = Clock::now() + std::chrono::duration<double>(g_seconds);
  auto start = Clock::now();
  for (int t = 0; t < conns; ++t) {
    threads.emplace_back([&, t] {
      LDAP* ld = nullptr;
      ldap_initialize(&ld, g_uri.c_str());
      int v3 = LDAP_VERSION3;
      ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
      std::string pw = "postern-secret";
      berval cred{pw.size(), pw.data()};
      if (ldap_sasl_bind_s(ld, "cn=postern,dc=example,dc=com", LDAP_SASL_SIMPLE, &cred, nullptr,
                           nullptr, nullptr) != LDAP_SUCCESS) {
        std::fprintf(stderr, "raw bind failed\n");
        return;
      }
      const char* attrs[] = {"mail",
                             "mailHost",
                             "mailAlternateAddress",
                             "posternAccountState",
                             "posternServices",
                             "posternQuota",
                             nullptr};
      long i = t * 7919, inflight = 0, done = 0;
      auto send = [&] {
        auto u = user(i++);
        auto filter = fmt::format("(|(mail={})(mailAlternateAddress={}))", u, u);
        int id = 0;
        ldap_search_ext(ld, "ou=people,dc=example,dc=com", LDAP_SCOPE_SUBTREE, filter.c_str(),
                        const_cast<char**>(attrs), 0, nullptr, nullptr, nullptr, 0, &id);
        ++inflight;
      };
      for (int k = 0; k < depth; ++k) send();
      while (inflight > 0) {
        LDAPMessage* msg = nullptr;
        timeval tv{1, 0};
        int rc = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, &tv, &msg);
        if (rc <= 0) break;
        if (rc == LDAP_RES_SEARCH_RESULT) {
          --inflight;
          ++done;
          if (Clock::now() < end) send();
        }
        ldap_msgfree(msg);
      }
      total += done;
      ldap_unbind_ext(ld, nullptr, nullptr);
    });
  }
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(total.load()) / secs;
}

void line(const char* what, double rate) {
  std::printf("mapping  %-46s %9.0f /s\n", what, rate);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: mapping_bench URI USERS SECONDS\n");
    return 64;
  }
  g_uri = argv[1];
  g_users = std::stoi(argv[2]);
  g_seconds = std::stod(argv[3]);
  core::set_log_level(core::LogLevel::Error);

  double raw = slapd_raw(2, 64);
  line("slapd raw searches (2 conns, 64 pipelined each)", raw);

  double uncached = 0;
  {
    mapping::LdapDirectory dir(ldap_config(), "example.com");
    uncached = drive(128, lookups(dir));
    line("lookups uncached (2 conns, pipelined)", uncached);
    line("authentications uncached (search+bind+groups)", drive(64, logins(dir)));
  }
  {
    mapping::CacheConfig cache;
    cache.positive_ttl = std::chrono::hours(1);
    auto source = std::make_unique<mapping::LdapDirectory>(ldap_config(), "example.com");
    mapping::CachingDirectory dir(std::move(source), cache, "example.com");
    double saved = g_seconds;
    g_seconds = std::max(1.0, g_users / 2000.0);  // warm every user once
    drive(128, lookups(dir));
    drive(64, logins(dir));
    g_seconds = saved;
    line("lookups cached", drive(128, lookups(dir)));
    line("authentications cached", drive(128, logins(dir)));
  }
  std::printf("mapping  uncached lookups / slapd raw = %.2f (target: at least 0.50)\n",
              raw > 0 ? uncached / raw : 0.0);
  return 0;
}
