#include "core/proxy_protocol.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test/unit/split_feed.hpp"

using postern::core::kProxyV2DefaultMaxHeader;
using postern::core::ProxyProtocolParser;
using postern::core::ProxyResult;
using postern::core::ProxyStatus;
using namespace std::literals;

namespace {

// Feeds the chunks and prints what the parser decided, the header's size and
// the bytes after it that the caller would leave for the session.
std::string feed_header(const std::vector<std::string_view>& chunks,
                        std::size_t max_v2 = kProxyV2DefaultMaxHeader) {
  ProxyProtocolParser parser(max_v2);
  std::size_t used = 0;
  std::string rest;
  ProxyResult r;
  for (std::string_view chunk : chunks) {
    if (r.status != ProxyStatus::NeedMore) {
      rest += chunk;
      continue;
    }
    r = parser.feed(chunk);
    REQUIRE(r.consumed <= chunk.size());
    if (r.status == ProxyStatus::NeedMore) REQUIRE(r.consumed == chunk.size());
    REQUIRE(parser.buffered_bytes() <= std::max(max_v2, std::size_t{107}));
    used += r.consumed;
    if (r.status == ProxyStatus::Done) rest += chunk.substr(r.consumed);
  }
  switch (r.status) {
    case ProxyStatus::NeedMore:
      return "need_more";
    case ProxyStatus::Error:
      return "error: " + std::string(r.error);
    case ProxyStatus::Done:
      break;
  }
  REQUIRE(used == r.header_size);
  // A finished parser takes nothing more.
  auto again = parser.feed("more");
  REQUIRE(again.status == ProxyStatus::Done);
  REQUIRE(again.consumed == 0);
  const auto& h = r.header;
  std::string out = "v" + std::to_string(h.version) + " size=" + std::to_string(r.header_size);
  if (h.local)
    out += " local";
  else
    out += " " + h.source.to_string() + " -> " + h.destination.to_string();
  return out + " rest=" + rest;
}

std::string split_ok(std::string_view input) {
  return postern::test::check_split_invariance(input, [](const auto& c) { return feed_header(c); });
}

// A v2 header: signature, ver/cmd, fam, length of `block`, block.
std::string v2(std::uint8_t ver_cmd, std::uint8_t fam, std::string_view block) {
  std::string h = "\r\n\r\n\0\r\nQUIT\n"s;
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>(block.size() >> 8);
  h += static_cast<char>(block.size() & 0xff);
  return h + std::string(block);
}

std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s += static_cast<char>(v);
  return s;
}

const std::string kInet = bytes({192, 0, 2, 7, 10, 0, 0, 1, 0xd4, 0x31, 0x00, 0x8f});  // 54321, 143
const std::string kInet6 =
    bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42,  // 2001:db8::42
           0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,  // 2001:db8::1
           0x04, 0x00, 0x03, 0xe1});                                       // 1024, 993

}  // namespace

TEST_CASE("proxy protocol v1: TCP4, TCP6 and UNKNOWN, split at every byte") {
  const std::string tcp4 = "PROXY TCP4 192.0.2.7 10.0.0.1 54321 143\r\na001 CAPABILITY\r\n";
  CHECK(feed_header({tcp4}) ==
        "v1 size=41 192.0.2.7:54321 -> 10.0.0.1:143 rest=a001 CAPABILITY\r\n");
  CHECK(split_ok(tcp4) == "");

  const std::string tcp6 = "PROXY TCP6 2001:db8::42 2001:db8::1 1024 993\r\nUSER a\r\n";
  CHECK(feed_header({tcp6}) ==
        "v1 size=46 [2001:db8::42]:1024 -> [2001:db8::1]:993 rest=USER a\r\n");
  CHECK(split_ok(tcp6) == "");

  // An IPv4-mapped source reads as IPv4, as it would from the socket.
  CHECK(feed_header({"PROXY TCP6 ::ffff:192.0.2.9 ::1 1 2\r\n"}) ==
        "v1 size=37 192.0.2.9:1 -> [::1]:2 rest=");

  CHECK(feed_header({"PROXY UNKNOWN\r\n+OK"}) == "v1 size=15 local rest=+OK");
  const std::string unknown = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nx";
  CHECK(feed_header({unknown}) == "v1 size=35 local rest=x");
  CHECK(split_ok(unknown) == "");

  // The longest header allowed: 107 bytes with the CRLF.
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  REQUIRE(longest.size() == 104);
  CHECK(feed_header({longest}).starts_with("v1 size=104 "));
  CHECK(feed_header({"PROXY UNKNOWN " + std::string(90, 'x') + "\r\n"}) ==
        "v1 size=106 local rest=");
  CHECK(feed_header({"PROXY UNKNOWN " + std::string(91, 'x') + "\r\n"}) ==
        "v1 size=107 local rest=");
  CHECK(feed_header({"PROXY UNKNOWN " + std::string(92, 'x') + "\r\n"}) ==
        "error: v1 header longer than 107 bytes");
}

TEST_CASE("proxy protocol v1: malformed headers are errors") {
  CHECK(feed_header({"USER alice\r\n"}) == "error: not a PROXY protocol header");
  CHECK(feed_header({"PROXY\r\n"}) == "error: not a PROXY protocol header");
  CHECK(feed_header({"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"}) ==
        "error: not a PROXY protocol header");
  CHECK(feed_header({"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"}) ==
        "error: v1 protocol is not TCP4, TCP6 or UNKNOWN");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"}) ==
        "error: v1 line does not end with CRLF");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 1\r 2\r\n"}) == "error: v1 line has a stray CR");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"}) ==
        "error: v1 line does not have four fields");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"}) ==
        "error: v1 line does not have four fields");
  CHECK(feed_header({"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"}) ==
        "error: v1 line does not have four fields");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"}) ==
        "error: v1 line does not have four fields");
  CHECK(feed_header({"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"}) == "error: v1 bad address");
  CHECK(feed_header({"PROXY TCP4 ::1 5.6.7.8 1 2\r\n"}) == "error: v1 bad address");
  CHECK(feed_header({"PROXY TCP6 1.2.3.4 ::1 1 2\r\n"}) == "error: v1 bad address");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"s}) == "error: v1 bad address");
  CHECK(feed_header({"PROXY TCP6 ::1%eth0 ::1 1 2\r\n"}) == "error: v1 bad address");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"}) == "error: v1 bad port");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"}) == "error: v1 bad port");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"}) == "error: v1 bad port");
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n"}) == "error: v1 bad port");
  // Without its line end it is never done, and it cannot grow past 107 bytes.
  CHECK(feed_header({"PROXY TCP4 1.2.3.4 5.6.7.8 1 2"}) == "need_more");
  CHECK(feed_header({"PROXY " + std::string(200, '1')}) ==
        "error: v1 header longer than 107 bytes");
  // Refused at the first byte that cannot start a header, not after a timeout.
  CHECK(feed_header({"+"}) == "error: not a PROXY protocol header");
  CHECK(feed_header({"PROXX"}) == "error: not a PROXY protocol header");
}

TEST_CASE("proxy protocol v2: TCP4, TCP6, LOCAL and TLVs, split at every byte") {
  const std::string tcp4 = v2(0x21, 0x11, kInet) + "a1 LOGIN";
  CHECK(feed_header({tcp4}) == "v2 size=28 192.0.2.7:54321 -> 10.0.0.1:143 rest=a1 LOGIN");
  CHECK(split_ok(tcp4) == "");

  const std::string tcp6 = v2(0x21, 0x21, kInet6) + "EHLO x\r\n";
  CHECK(feed_header({tcp6}) ==
        "v2 size=52 [2001:db8::42]:1024 -> [2001:db8::1]:993 rest=EHLO x\r\n");
  CHECK(split_ok(tcp6) == "");

  // LOCAL: health checks from the balancer itself, whatever the block holds.
  const std::string local = v2(0x20, 0x00, "") + "CAPA\r\n";
  CHECK(feed_header({local}) == "v2 size=16 local rest=CAPA\r\n");
  CHECK(split_ok(local) == "");
  CHECK(feed_header({v2(0x20, 0x11, kInet)}) == "v2 size=28 local rest=");
  CHECK(feed_header({v2(0x20, 0x77, "junk")}) == "v2 size=20 local rest=");

  // UNSPEC and UNIX carry no client address for us.
  CHECK(feed_header({v2(0x21, 0x00, "")}) == "v2 size=16 local rest=");
  CHECK(feed_header({v2(0x21, 0x31, std::string(216, '\0'))}) == "v2 size=232 local rest=");

  // TLVs after the addresses are skipped: ALPN "imap", a NOOP pad, an
  // authority, an empty one.
  const std::string tlvs = bytes({0x01, 0x00, 0x04}) + "imap" + bytes({0x04, 0x00, 0x02, 0, 0}) +
                           bytes({0x02, 0x00, 0x0b}) + "example.com" + bytes({0xe0, 0x00, 0x00});
  const std::string with_tlvs = v2(0x21, 0x11, kInet + tlvs) + "rest";
  CHECK(feed_header({with_tlvs}) == "v2 size=57 192.0.2.7:54321 -> 10.0.0.1:143 rest=rest");
  CHECK(split_ok(with_tlvs) == "");

  // The largest header accepted by default, and a smaller configured bound.
  const std::size_t pad = kProxyV2DefaultMaxHeader - 16 - 12 - 3;
  const std::string biggest =
      v2(0x21, 0x11,
         kInet + bytes({0x04, static_cast<int>(pad >> 8), static_cast<int>(pad & 0xff)}) +
             std::string(pad, '\0'));
  CHECK(feed_header({biggest}) == "v2 size=536 192.0.2.7:54321 -> 10.0.0.1:143 rest=");
  CHECK(feed_header({tcp4}, 27) == "error: v2 header too long");
}

TEST_CASE("proxy protocol v2: malformed headers are errors") {
  std::string bad_sig = v2(0x21, 0x11, kInet);
  bad_sig[8] = 'X';
  CHECK(feed_header({bad_sig}) == "error: not a PROXY protocol header");
  CHECK(feed_header({"\r\n\r\n\r\n"}) == "error: not a PROXY protocol header");
  CHECK(feed_header({v2(0x11, 0x11, kInet)}) == "error: v2 unsupported version");
  CHECK(feed_header({v2(0x22, 0x11, kInet)}) == "error: v2 unknown command");
  CHECK(feed_header({v2(0x21, 0x41, kInet)}) == "error: v2 unknown address family");
  CHECK(feed_header({v2(0x21, 0x12, kInet)}) == "error: v2 transport is not STREAM");
  CHECK(feed_header({v2(0x21, 0x11, kInet.substr(0, 11))}) ==
        "error: v2 length too short for the addresses");
  CHECK(feed_header({v2(0x21, 0x21, kInet)}) == "error: v2 length too short for the addresses");
  CHECK(feed_header({v2(0x21, 0x11, kInet + bytes({0x01, 0x00}))}) == "error: v2 malformed TLV");
  CHECK(feed_header({v2(0x21, 0x11, kInet + bytes({0x01, 0x00, 0x05}) + "imap")}) ==
        "error: v2 malformed TLV");
  // Truncated: every prefix of a good header waits for more.
  const std::string good = v2(0x21, 0x21, kInet6);
  for (std::size_t n = 1; n < good.size(); ++n) {
    INFO(n);
    CHECK(feed_header({std::string_view(good).substr(0, n)}) == "need_more");
  }
  // A length over the bound is refused as soon as it is read, with nothing buffered.
  std::string huge = v2(0x21, 0x11, "").substr(0, 14) + "\xff\xff";
  CHECK(feed_header({huge}) == "error: v2 header too long");
}
