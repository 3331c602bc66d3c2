#include "core/proxy_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>

namespace postern::core {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t kV2FixedSize = 16;  // signature, ver/cmd, fam, len
constexpr std::size_t kV2Inet = 12;       // two IPv4 addresses and two ports
constexpr std::size_t kV2Inet6 = 36;

std::uint8_t byte_at(std::string_view s, std::size_t i) {
  return static_cast<std::uint8_t>(s[i]);
}

std::uint16_t be16(std::string_view s, std::size_t i) {
  return static_cast<std::uint16_t>((byte_at(s, i) << 8) | byte_at(s, i + 1));
}

// v1 ports: decimal 0..65535 without a sign or leading zeros.
std::optional<std::uint16_t> v1_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// v1 addresses, checked by hand first: inet_pton stops at a NUL and would
// accept "1.2.3.4\0junk".
std::optional<IpAddress> v1_address(std::string_view s, bool v6) {
  if (s.empty() || s.size() > INET6_ADDRSTRLEN) return std::nullopt;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || c == '.' ||
              (v6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
    if (!ok) return std::nullopt;
  }
  if (v6 != (s.find(':') != std::string_view::npos)) return std::nullopt;
  return IpAddress::parse(s);
}

std::optional<std::string_view> next_word(std::string_view& rest) {
  auto sp = rest.find(' ');
  auto word = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
  if (word.empty()) return std::nullopt;  // two spaces, or nothing left
  return word;
}

PeerAddress v2_peer4(std::string_view addr, std::size_t ip_at, std::size_t port_at) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  std::memcpy(&s.sin_addr, addr.data() + ip_at, 4);
  s.sin_port = htons(be16(addr, port_at));
  return *PeerAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&s));
}

// Through sockaddr_in6 so that an IPv4-mapped address becomes IPv4, as for
// a socket's own peer.
PeerAddress v2_peer6(std::string_view addr, std::size_t ip_at, std::size_t port_at) {
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  std::memcpy(&s.sin6_addr, addr.data() + ip_at, 16);
  s.sin6_port = htons(be16(addr, port_at));
  return *PeerAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&s));
}

}  // namespace

ProxyResult ProxyProtocolParser::fail(std::string_view why) {
  result_.status = ProxyStatus::Error;
  result_.error = why;
  return result_;
}

std::size_t ProxyProtocolParser::wanted() const {
  if (buffer_.empty() || buffer_[0] == 'P') return 1;  // v1: up to the LF, one at a time
  if (buffer_.size() < kV2FixedSize) return kV2FixedSize - buffer_.size();
  return kV2FixedSize + be16(buffer_, 14) - buffer_.size();
}

ProxyResult ProxyProtocolParser::feed(std::string_view bytes) {
  if (result_.status != ProxyStatus::NeedMore) {
    ProxyResult again = result_;
    again.consumed = 0;
    return again;
  }
  std::size_t used = 0;
  while (used < bytes.size()) {
    std::size_t take = std::min(wanted(), bytes.size() - used);
    std::size_t before = buffer_.size();
    buffer_.append(bytes.substr(used, take));
    used += take;
    result_.consumed = used;
    const bool v1 = buffer_[0] == 'P';
    // Check the fixed prefix as soon as it arrives: a client that speaks the
    // mail protocol straight away is refused at its first byte, not at the timeout.
    std::string_view magic = v1 ? kV1Prefix : kV2Signature;
    std::size_t check = std::min(buffer_.size(), magic.size());
    if (before < check && std::string_view(buffer_).substr(0, check) != magic.substr(0, check))
      return fail("not a PROXY protocol header");
    if (v1) {
      if (buffer_.back() == '\n') return finish();
      if (buffer_.size() >= kProxyV1MaxHeader) return fail("v1 header longer than 107 bytes");
      continue;
    }
    if (buffer_.size() < kV2FixedSize) continue;
    const std::size_t total = kV2FixedSize + be16(buffer_, 14);
    if (total > max_v2_) return fail("v2 header too long");
    if (buffer_.size() == total) return finish();
  }
  result_.consumed = used;
  return result_;
}

ProxyResult ProxyProtocolParser::finish() {
  const std::size_t consumed = result_.consumed;
  ProxyResult r;
  r.status = ProxyStatus::Done;
  r.consumed = consumed;
  r.header_size = buffer_.size();
  std::string_view b = buffer_;
  if (b[0] == 'P') {
    r.header.version = 1;
    if (b.size() < 2 || b[b.size() - 2] != '\r') return fail("v1 line does not end with CRLF");
    std::string_view rest = b.substr(kV1Prefix.size(), b.size() - kV1Prefix.size() - 2);
    if (rest.find('\r') != std::string_view::npos) return fail("v1 line has a stray CR");
    auto proto = next_word(rest);
    if (proto == "UNKNOWN") {
      // Spec 2.1: whatever follows UNKNOWN up to the CRLF is ignored.
      r.header.local = true;
      return result_ = r;
    }
    if (proto != "TCP4" && proto != "TCP6") return fail("v1 protocol is not TCP4, TCP6 or UNKNOWN");
    const bool v6 = proto == "TCP6";
    auto src = next_word(rest);
    auto dst = next_word(rest);
    auto sport = next_word(rest);
    auto dport = rest;  // the last field runs to the CRLF
    if (!src || !dst || !sport || dport.empty() || dport.find(' ') != std::string_view::npos)
      return fail("v1 line does not have four fields");
    auto src_ip = v1_address(*src, v6);
    auto dst_ip = v1_address(*dst, v6);
    if (!src_ip || !dst_ip) return fail("v1 bad address");
    auto sp = v1_port(*sport);
    auto dp = v1_port(dport);
    if (!sp || !dp) return fail("v1 bad port");
    r.header.source = PeerAddress{*src_ip, *sp};
    r.header.destination = PeerAddress{*dst_ip, *dp};
    return result_ = r;
  }

  r.header.version = 2;
  const std::uint8_t ver_cmd = byte_at(b, 12);
  const std::uint8_t fam = byte_at(b, 13);
  if ((ver_cmd >> 4) != 2) return fail("v2 unsupported version");
  const unsigned command = ver_cmd & 0x0f;
  if (command == 0) {
    // LOCAL: the balancer talking for itself; the address block is skipped
    // unread (spec 2.2).
    r.header.local = true;
    return result_ = r;
  }
  if (command != 1) return fail("v2 unknown command");
  const unsigned family = fam >> 4, transport = fam & 0x0f;
  std::string_view block = b.substr(kV2FixedSize);
  if (family == 0 || family == 3) {
    // UNSPEC, or a UNIX socket on the balancer: no client address for us.
    r.header.local = true;
    return result_ = r;
  }
  if (family != 1 && family != 2) return fail("v2 unknown address family");
  if (transport != 1) return fail("v2 transport is not STREAM");
  const std::size_t addresses = family == 1 ? kV2Inet : kV2Inet6;
  if (block.size() < addresses) return fail("v2 length too short for the addresses");
  if (family == 1) {
    r.header.source = v2_peer4(block, 0, 8);
    r.header.destination = v2_peer4(block, 4, 10);
  } else {
    r.header.source = v2_peer6(block, 0, 32);
    r.header.destination = v2_peer6(block, 16, 34);
  }
  // TLVs (type, 16-bit length, value) fill the rest exactly; we use none of
  // them but refuse a block that does not add up.
  for (std::size_t at = addresses; at < block.size();) {
    if (block.size() - at < 3) return fail("v2 malformed TLV");
    const std::size_t len = be16(block, at + 1);
    if (block.size() - at - 3 < len) return fail("v2 malformed TLV");
    at += 3 + len;
  }
  return result_ = r;
}

}  // namespace postern::core
