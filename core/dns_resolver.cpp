#include "core/dns_resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <span>
#include <stdexcept>
#include <unordered_map>

#include "core/dns_cache.hpp"
#include "core/dns_message.hpp"

namespace postern::core {

// TTLs: every answer's TTL is read from the raw message (core/dns_message),
// the smallest of the answer records of the queried type, for A, AAAA, MX,
// TXT and PTR alike. Positive answers are kept at most a day; negative ones
// (NXDOMAIN, NODATA) at most a minute, less when the zone's SOA says so, so a
// name that appears is seen soon. Temporary failures are never cached.
namespace {

constexpr std::chrono::seconds kMaxPositiveTtl{86'400};
constexpr std::chrono::seconds kMaxNegativeTtl{60};

template <class T>
using Done = std::function<void(DnsAnswer<T>)>;

template <class T>
DnsAnswer<T> failure(DnsStatus status, std::string detail) {
  DnsAnswer<T> a;
  a.status = status;
  a.detail = std::move(detail);
  return a;
}

DnsStatus status_of(int ares_status) {
  switch (ares_status) {
    case ARES_SUCCESS:
      return DnsStatus::Ok;
    case ARES_ENODATA:
      return DnsStatus::NoData;
    case ARES_ENOTFOUND:
      return DnsStatus::NxDomain;
    case ARES_EBADNAME:
      return DnsStatus::BadName;
    default:  // timeout, SERVFAIL, REFUSED, FORMERR, refused connection, bad reply
      return DnsStatus::TempFail;
  }
}

std::string lower_host(const char* name) {
  auto n = normalize_dns_name(name == nullptr ? "" : name);
  return n.value_or("");  // "" for the root: a null MX (RFC 7505)
}

// Record parsers: the records of an answer c-ares found well-formed, or the
// c-ares status (ARES_ENODATA when the answer holds none of the type).
int parse(const unsigned char* buf, int len, std::vector<IpAddress>& out, bool v6) {
  std::array<ares_addrttl, 64> v4s{};
  std::array<ares_addr6ttl, 64> v6s{};
  int n = 64;
  int rc = v6 ? ares_parse_aaaa_reply(buf, len, nullptr, v6s.data(), &n)
              : ares_parse_a_reply(buf, len, nullptr, v4s.data(), &n);
  if (rc != ARES_SUCCESS) return rc;
  for (int i = 0; i < n; ++i) {
    IpAddress ip;
    ip.v6 = v6;
    if (v6)
      std::memcpy(ip.bytes.data(), &v6s[i].ip6addr, 16);
    else
      std::memcpy(ip.bytes.data(), &v4s[i].ipaddr, 4);
    out.push_back(ip);
  }
  return out.empty() ? ARES_ENODATA : ARES_SUCCESS;
}

int parse(const unsigned char* buf, int len, std::vector<MxRecord>& out) {
  ares_mx_reply* mx = nullptr;
  int rc = ares_parse_mx_reply(buf, len, &mx);
  if (rc != ARES_SUCCESS) return rc;
  for (auto* r = mx; r != nullptr; r = r->next) out.push_back({r->priority, lower_host(r->host)});
  ares_free_data(mx);
  // Equal preferences in random order (RFC 5321 section 5.1) spread the load.
  thread_local std::mt19937 rng{std::random_device{}()};
  std::shuffle(out.begin(), out.end(), rng);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.preference < b.preference; });
  return out.empty() ? ARES_ENODATA : ARES_SUCCESS;
}

int parse_txt(const unsigned char* buf, int len, std::vector<std::string>& out) {
  ares_txt_ext* txt = nullptr;
  int rc = ares_parse_txt_reply_ext(buf, len, &txt);
  if (rc != ARES_SUCCESS) return rc;
  for (auto* r = txt; r != nullptr; r = r->next) {
    if (r->record_start || out.empty()) out.emplace_back();
    out.back().append(reinterpret_cast<const char*>(r->txt), r->length);
  }
  ares_free_data(txt);
  return out.empty() ? ARES_ENODATA : ARES_SUCCESS;
}

int parse_ptr(const unsigned char* buf, int len, const IpAddress& ip,
              std::vector<std::string>& out) {
  hostent* host = nullptr;
  int rc = ares_parse_ptr_reply(buf, len, ip.bytes.data(), ip.v6 ? 16 : 4,
                                ip.v6 ? AF_INET6 : AF_INET, &host);
  if (rc != ARES_SUCCESS) return rc;
  auto add = [&](const char* name) {
    auto n = lower_host(name);
    if (!n.empty() && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  };
  // c-ares puts every PTR target among the aliases and one of them in h_name.
  for (char** a = host->h_aliases; a != nullptr && *a != nullptr; ++a) add(*a);
  add(host->h_name);
  ares_free_hostent(host);
  return out.empty() ? ARES_ENODATA : ARES_SUCCESS;
}

std::string reverse_name(const IpAddress& ip) {
  std::string out;
  if (!ip.v6) {
    for (int i = 3; i >= 0; --i) out += fmt::format("{}.", ip.bytes[i]);
    return out + "in-addr.arpa";
  }
  for (int i = 15; i >= 0; --i)
    out += fmt::format("{:x}.{:x}.", ip.bytes[i] & 0xF, ip.bytes[i] >> 4);
  return out + "ip6.arpa";
}

}  // namespace

std::string_view dns_status_name(DnsStatus s) {
  switch (s) {
    case DnsStatus::Ok:
      return "ok";
    case DnsStatus::NoData:
      return "nodata";
    case DnsStatus::NxDomain:
      return "nxdomain";
    case DnsStatus::TempFail:
      return "tempfail";
    case DnsStatus::BadName:
      return "badname";
  }
  return "?";
}

struct DnsResolver::Impl {
  Impl(EventLoop& l, const DnsConfig& c)
      : loop(l),
        config(c),
        timer(l, [this] { process(ARES_SOCKET_BAD, ARES_SOCKET_BAD); }),
        a_cache(c.cache_size),
        aaaa_cache(c.cache_size),
        mx_cache(c.cache_size),
        txt_cache(c.cache_size),
        ptr_cache(c.cache_size) {}

  EventLoop& loop;
  DnsConfig config;
  ares_channel channel = nullptr;
  std::unordered_map<ares_socket_t, EventPtr> sockets;  // one event per c-ares socket
  Timer timer;                                          // c-ares's next timeout
  // Posted callbacks hold a weak handle: once the resolver is gone they are dropped.
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  bool destroying = false;
  DnsCache<DnsAnswer<IpAddress>> a_cache, aaaa_cache;
  DnsCache<DnsAnswer<MxRecord>> mx_cache;
  DnsCache<DnsAnswer<std::string>> txt_cache, ptr_cache;
  Stats stats;

  void init();
  void process(ares_socket_t read_fd, ares_socket_t write_fd);
  void update_timer();
  static void on_sock_state(void* self, ares_socket_t fd, int readable, int writable);
  static void on_socket(evutil_socket_t fd, short what, void* self) noexcept;

  // Runs `done(answer)` later on the loop, unless the resolver is gone by then.
  template <class T>
  void deliver(Done<T> done, DnsAnswer<T> answer) {
    loop.post([weak = std::weak_ptr<int>(alive), done = std::move(done),
               answer = std::move(answer)]() mutable {
      if (!weak.expired()) done(std::move(answer));
    });
  }

  // One query: answered from `cache` or sent; `parse_fn(buf, len, records)`
  // turns a reply into records.
  template <class T, class Parse>
  void query(std::string_view name, int rr_type, DnsCache<DnsAnswer<T>>& cache, Parse parse_fn,
             Done<T> done);
  template <class T, class Parse>
  struct Pending;
  template <class T, class Parse>
  static void on_answer(void* arg, int status, int timeouts, unsigned char* buf, int len);
};

template <class T, class Parse>
struct DnsResolver::Impl::Pending {
  Impl* impl;
  std::string name;
  int rr_type;
  DnsCache<DnsAnswer<T>>* cache;
  Parse parse_fn;
  Done<T> done;
};

template <class T, class Parse>
void DnsResolver::Impl::on_answer(void* arg, int status, int /*timeouts*/, unsigned char* buf,
                                  int len) {
  std::unique_ptr<Pending<T, Parse>> p(static_cast<Pending<T, Parse>*>(arg));
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED || p->impl->destroying) return;
  DnsAnswer<T> answer;
  if (status == ARES_SUCCESS) status = p->parse_fn(buf, len, answer.records);
  answer.status = status_of(status);
  if (answer.status != DnsStatus::Ok) {
    answer.records.clear();
    answer.detail = fmt::format("{}: {}", p->name, ares_strerror(status));
  }
  std::span<const unsigned char> message(buf, buf == nullptr ? 0 : static_cast<std::size_t>(len));
  std::chrono::seconds ttl{0};
  if (answer.status == DnsStatus::Ok) {
    ttl = std::min(kMaxPositiveTtl,
                   std::chrono::seconds(dns_answer_ttl(message, p->rr_type).value_or(0)));
  } else if (answer.status == DnsStatus::NoData || answer.status == DnsStatus::NxDomain) {
    ttl =
        std::min(kMaxNegativeTtl,
                 std::chrono::seconds(dns_negative_ttl(message).value_or(kMaxNegativeTtl.count())));
  }
  p->cache->put(p->name, answer, ttl, std::chrono::steady_clock::now());
  p->impl->deliver(std::move(p->done), std::move(answer));
}

template <class T, class Parse>
void DnsResolver::Impl::query(std::string_view name, int rr_type, DnsCache<DnsAnswer<T>>& cache,
                              Parse parse_fn, Done<T> done) {
  auto normal = normalize_dns_name(name);
  if (!normal) {
    deliver(std::move(done),
            failure<T>(DnsStatus::BadName, fmt::format("not a domain name: \"{}\"", name)));
    return;
  }
  if (auto hit = cache.get(*normal, std::chrono::steady_clock::now())) {
    ++stats.cache_hits;
    deliver(std::move(done), std::move(*hit));
    return;
  }
  ++stats.queries;
  auto* p =
      new Pending<T, Parse>{this, *normal, rr_type, &cache, std::move(parse_fn), std::move(done)};
  // ares_query, not ares_search: names are absolute, no search domains.
  ares_query(channel, p->name.c_str(), ns_c_in, rr_type, &on_answer<T, Parse>, p);
  update_timer();
}

void DnsResolver::Impl::init() {
  static std::once_flag library;
  std::call_once(library, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NOROTATE |
             ARES_OPT_FLAGS;
  opts.sock_state_cb = &Impl::on_sock_state;
  opts.sock_state_cb_data = this;
  opts.timeout = static_cast<int>(std::max<std::int64_t>(1, config.timeout.count()));
  opts.tries = config.retries + 1;
  opts.flags = ARES_FLAG_NOSEARCH;
  int rc = ares_init_options(&channel, &opts, mask);
  if (rc != ARES_SUCCESS)
    throw std::runtime_error(fmt::format("DNS resolver: {}", ares_strerror(rc)));
  if (config.nameservers.empty()) return;  // /etc/resolv.conf's, read by ares_init_options
  // c-ares asks its servers in list order (no rotation): higher priority first.
  auto servers = config.nameservers;
  std::stable_sort(servers.begin(), servers.end(),
                   [](const auto& a, const auto& b) { return a.priority > b.priority; });
  std::vector<ares_addr_port_node> nodes(servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) {
    auto ip = IpAddress::parse(servers[i].address.host);
    if (!ip) throw std::runtime_error("DNS resolver: bad nameserver " + servers[i].address.host);
    auto& n = nodes[i];
    n.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    n.family = ip->v6 ? AF_INET6 : AF_INET;
    std::memcpy(&n.addr, ip->bytes.data(), ip->v6 ? 16 : 4);
    n.udp_port = n.tcp_port = servers[i].address.port;
  }
  rc = ares_set_servers_ports(channel, nodes.data());
  if (rc != ARES_SUCCESS)
    throw std::runtime_error(fmt::format("DNS resolver: nameservers: {}", ares_strerror(rc)));
}

void DnsResolver::Impl::on_sock_state(void* self, ares_socket_t fd, int readable, int writable) {
  auto* impl = static_cast<Impl*>(self);
  if (!readable && !writable) {
    impl->sockets.erase(fd);
    return;
  }
  short what =
      static_cast<short>(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
  EventPtr ev(event_new(impl->loop.base(), fd, what, &Impl::on_socket, impl));
  if (!ev || event_add(ev.get(), nullptr) != 0) return;  // the query times out instead
  impl->sockets[fd] = std::move(ev);  // replaces (and frees) the previous event of fd
}

void DnsResolver::Impl::on_socket(evutil_socket_t fd, short what, void* self) noexcept {
  static_cast<Impl*>(self)->process((what & EV_READ) ? fd : ARES_SOCKET_BAD,
                                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
}

void DnsResolver::Impl::process(ares_socket_t read_fd, ares_socket_t write_fd) {
  // With both BAD, c-ares only handles the queries whose time is up.
  ares_process_fd(channel, read_fd, write_fd);
  update_timer();
}

void DnsResolver::Impl::update_timer() {
  timeval tv{};
  if (ares_timeout(channel, nullptr, &tv) == nullptr) {
    timer.cancel();
    return;
  }
  auto ms = std::chrono::milliseconds(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
  timer.arm(std::max(ms, std::chrono::milliseconds(1)));
}

DnsResolver::DnsResolver(EventLoop& loop, const DnsConfig& config)
    : impl_(std::make_unique<Impl>(loop, config)) {
  impl_->init();
}

DnsResolver::~DnsResolver() {
  impl_->destroying = true;
  impl_->alive.reset();
  // Calls every pending query back with ARES_EDESTRUCTION (freed, not
  // delivered) and closes the sockets through on_sock_state.
  if (impl_->channel != nullptr) ares_destroy(impl_->channel);
  impl_->sockets.clear();
}

EventLoop& DnsResolver::loop() const {
  return impl_->loop;
}

void DnsResolver::mx(std::string_view domain, std::function<void(DnsAnswer<MxRecord>)> done) {
  impl_->query<MxRecord>(
      domain, ns_t_mx, impl_->mx_cache,
      [](const unsigned char* b, int n, std::vector<MxRecord>& out) { return parse(b, n, out); },
      std::move(done));
}

void DnsResolver::txt(std::string_view domain, std::function<void(DnsAnswer<std::string>)> done) {
  impl_->query<std::string>(domain, ns_t_txt, impl_->txt_cache, &parse_txt, std::move(done));
}

void DnsResolver::a(std::string_view host, std::function<void(DnsAnswer<IpAddress>)> done) {
  impl_->query<IpAddress>(
      host, ns_t_a, impl_->a_cache,
      [](const unsigned char* b, int n, std::vector<IpAddress>& out) {
        return parse(b, n, out, false);
      },
      std::move(done));
}

void DnsResolver::aaaa(std::string_view host, std::function<void(DnsAnswer<IpAddress>)> done) {
  impl_->query<IpAddress>(
      host, ns_t_aaaa, impl_->aaaa_cache,
      [](const unsigned char* b, int n, std::vector<IpAddress>& out) {
        return parse(b, n, out, true);
      },
      std::move(done));
}

void DnsResolver::addresses(std::string_view host, std::function<void(DnsAnswer<IpAddress>)> done) {
  struct Join {
    DnsAnswer<IpAddress> v4, v6;
    int waiting = 2;
    std::function<void(DnsAnswer<IpAddress>)> done;
  };
  auto join = std::make_shared<Join>();
  join->done = std::move(done);
  auto finish = [join] {
    if (--join->waiting > 0) return;
    const auto& v4 = join->v4;
    const auto& v6 = join->v6;
    DnsAnswer<IpAddress> out;
    out.records = v4.records;
    out.records.insert(out.records.end(), v6.records.begin(), v6.records.end());
    if (!out.records.empty())
      out.status = DnsStatus::Ok;
    else if (v4.status == DnsStatus::TempFail || v6.status == DnsStatus::TempFail)
      out.status = DnsStatus::TempFail;
    else if (v4.status == DnsStatus::BadName)
      out.status = DnsStatus::BadName;
    else if (v4.status == DnsStatus::NxDomain || v6.status == DnsStatus::NxDomain)
      out.status = DnsStatus::NxDomain;
    else
      out.status = DnsStatus::NoData;
    out.detail = v4.detail.empty() ? v6.detail : v4.detail;
    join->done(std::move(out));
  };
  a(host, [join, finish](DnsAnswer<IpAddress> r) {
    join->v4 = std::move(r);
    finish();
  });
  aaaa(host, [join, finish](DnsAnswer<IpAddress> r) {
    join->v6 = std::move(r);
    finish();
  });
}

void DnsResolver::ptr(const IpAddress& ip, std::function<void(DnsAnswer<std::string>)> done) {
  impl_->query<std::string>(
      reverse_name(ip), ns_t_ptr, impl_->ptr_cache,
      [ip](const unsigned char* b, int n, std::vector<std::string>& out) {
        return parse_ptr(b, n, ip, out);
      },
      std::move(done));
}

DnsResolver::Stats DnsResolver::stats() const {
  return impl_->stats;
}

}  // namespace postern::core
