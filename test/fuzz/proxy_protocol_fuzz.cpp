// libFuzzer target for the PROXY protocol header parser (STYLE.md rule 2). The
// input is the first bytes of a connection from a load balancer; the seeds in
// corpus/proxy_protocol are v1 and v2 headers followed by a session's first
// line. A hash of the input picks a small v2 bound now and then. The input is
// parsed in one piece and in chunks whose sizes come from the input bytes;
// both runs must agree, keep the feed() contract (never a byte past the
// header), and stay within the header bounds. A header with addresses must
// survive being written back as v1 and parsed again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/proxy_protocol.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;

using namespace postern::core;

std::string describe(const ProxyResult& r) {
  switch (r.status) {
    case ProxyStatus::NeedMore:
      return "need_more";
    case ProxyStatus::Error:
      require(!r.error.empty());
      return "error " + std::string(r.error);
    case ProxyStatus::Done:
      break;
  }
  const auto& h = r.header;
  std::string out = "v" + std::to_string(h.version) + " " + std::to_string(r.header_size);
  if (h.local) return out + " local";
  return out + " " + h.source.to_string() + " " + h.destination.to_string();
}

// A header with addresses, written back as v1, must parse to the same
// addresses. An IPv4 address beside an IPv6 one (from a mapped address) is
// written in its mapped form, as TCP6 wants.
void check_round_trip(const ProxyHeader& h) {
  const bool v6 = h.source.ip.v6 || h.destination.ip.v6;
  auto text = [v6](const IpAddress& ip) {
    return (v6 && !ip.v6 ? "::ffff:" : "") + ip.to_string();
  };
  const std::string line = std::string("PROXY ") + (v6 ? "TCP6 " : "TCP4 ") + text(h.source.ip) +
                           " " + text(h.destination.ip) + " " + std::to_string(h.source.port) +
                           " " + std::to_string(h.destination.port) + "\r\n";
  ProxyProtocolParser parser;
  auto r = parser.feed(line);
  require(r.status == ProxyStatus::Done && r.header_size == line.size() && !r.header.local);
  require(r.header.source.ip == h.source.ip && r.header.source.port == h.source.port);
  require(r.header.destination.ip == h.destination.ip &&
          r.header.destination.port == h.destination.port);
}

std::string run(std::string_view input, std::size_t max_v2, std::uint32_t hash, bool chunked) {
  ProxyProtocolParser parser(max_v2);
  ProxyResult r;
  std::size_t used = 0, pos = 0;
  while (pos < input.size() && r.status == ProxyStatus::NeedMore) {
    std::size_t n = input.size() - pos;
    if (chunked)
      n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 29));
    r = parser.feed(input.substr(pos, n));
    pos += n;
    require(r.consumed <= n);
    if (r.status == ProxyStatus::NeedMore) require(r.consumed == n);
    require(parser.buffered_bytes() <= std::max(max_v2, kProxyV1MaxHeader));
    used += r.consumed;
  }
  if (r.status == ProxyStatus::Done) {
    require(used == r.header_size);
    require(r.header_size <= (r.header.version == 1 ? kProxyV1MaxHeader : max_v2));
    require(parser.feed("x").consumed == 0);
    if (!r.header.local) check_round_trip(r.header);
  }
  return describe(r);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  const std::size_t max_v2 = (hash & 1) ? 16 + 36 + (hash >> 24) % 16 : kProxyV2DefaultMaxHeader;
  const std::string whole = run(input, max_v2, hash, false);
  require(run(input, max_v2, hash, true) == whole);
  return 0;
}
