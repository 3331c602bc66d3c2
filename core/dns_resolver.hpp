// The DNS resolver (DESIGN.md section 6): c-ares driven by one event loop,
// with the DNR settings an operator expects (seeds: "DNR Settings"):
// nameservers from configuration tried in priority order (higher first), or
// those of /etc/resolv.conf; a query timeout; a number of retries; and a cache
// per query type with a bounded number of entries that honours record TTLs.
// The SMTP server (SPF) and the queue (MX, A/AAAA) use it.
//
// Cache: per query type (A, AAAA, MX, TXT, PTR), at most cache_size names,
// least recently used evicted first. A positive answer is kept for the
// smallest TTL of its records (read from the raw answer, for every type; at
// most a day); NXDOMAIN and NODATA for 60 s, or less when the zone's SOA
// says so (RFC 2308); temporary failures are not cached. Identical queries in
// flight at the same time are not merged (each is sent).
//
// Timeouts: `timeout` is the first attempt's; c-ares doubles it for each
// further round over the nameservers. A query makes (retries + 1) rounds, each
// asking the nameservers in priority order, the next one after a timeout, a
// refusal, SERVFAIL or an unreachable port.
//
// Threading: one DnsResolver per event loop, used only on that loop. Every
// callback runs on that loop, exactly once, never inline (not before the call
// returned). A caller that may be gone before the answer captures a weak
// handle. Destroying the resolver cancels pending queries and drops their
// callbacks (they never run); destroy it on its loop, before the loop.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/event_loop.hpp"
#include "core/net_address.hpp"

namespace postern::core {

struct DnsConfig {
  struct Nameserver {
    Endpoint address;  // "127.0.0.1:5353", "[::1]:53"; port 53 when omitted
    int priority = 0;  // higher is asked first
  };
  // Empty: the nameservers of /etc/resolv.conf.
  std::vector<Nameserver> nameservers;
  std::chrono::milliseconds timeout{5000};  // per query attempt
  int retries = 2;                          // further attempts after the first
  std::size_t cache_size = 1000;            // entries per query type; 0 disables
  // The "dns" object of a node file:
  //   {"nameservers": [{"address": "127.0.0.1:5353", "priority": 10}, ...],
  //    "timeout": 5, "retries": 2, "cache_size": 1000}
  // Absent object: the defaults above. Throws ConfigError naming the key.
  static DnsConfig from_config(const ConfigNode& node);
};

enum class DnsStatus {
  Ok,        // records found
  NoData,    // the name exists but has no record of this type
  NxDomain,  // the name does not exist
  TempFail,  // timeout, SERVFAIL, refused, network: try again later
  BadName,   // not a valid domain name (never sent)
};
std::string_view dns_status_name(DnsStatus s);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // lower-case, no trailing dot; "" for a null MX "." (RFC 7505)
};

template <class T>
struct DnsAnswer {
  DnsStatus status = DnsStatus::TempFail;
  std::vector<T> records;
  std::string detail;  // why, for logs
};

class DnsResolver {
 public:
  DnsResolver(EventLoop& loop, const DnsConfig& config);
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;
  ~DnsResolver();

  // MX records, sorted by preference (ties in random order).
  void mx(std::string_view domain, std::function<void(DnsAnswer<MxRecord>)> done);
  // TXT records, each record's character-strings joined without separator
  // (RFC 7208 3.3).
  void txt(std::string_view domain, std::function<void(DnsAnswer<std::string>)> done);
  // A and AAAA records together (IPv4 first). Ok when either type had records;
  // TempFail when one type failed temporarily and the other had none.
  void addresses(std::string_view host, std::function<void(DnsAnswer<IpAddress>)> done);
  // A only / AAAA only (SPF's "a" and "mx" mechanisms match per family).
  void a(std::string_view host, std::function<void(DnsAnswer<IpAddress>)> done);
  void aaaa(std::string_view host, std::function<void(DnsAnswer<IpAddress>)> done);
  // PTR names of an address (SPF "ptr", logs), without trailing dots.
  void ptr(const IpAddress& ip, std::function<void(DnsAnswer<std::string>)> done);

  struct Stats {
    std::uint64_t queries = 0;     // sent to a nameserver
    std::uint64_t cache_hits = 0;  // answered from the cache
  };
  Stats stats() const;

  // The loop this resolver runs on (users such as SPF post their own
  // non-inline completions there).
  EventLoop& loop() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::core
