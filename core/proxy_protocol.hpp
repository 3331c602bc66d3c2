// HAProxy's PROXY protocol header (v1 text and v2 binary), which a load
// balancer sends before the first byte of the session so that we learn the
// real client's address. An incremental parser with no I/O (STYLE.md rule 1).
//
// v1: "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" or "PROXY UNKNOWN...\r\n",
//     at most 107 bytes with its CRLF.
// v2: a 12-byte signature, version/command, family/transport, a 16-bit length,
//     then the addresses and TLVs (skipped). The LOCAL command (the balancer's
//     own health checks) and the UNSPEC/UNIX families carry no client address.
//
// The parser never looks at a byte after the header: feed() says how many of
// the bytes given belong to it, so the caller can consume exactly the header
// and leave the session's first bytes where they are. Malformed input is an
// Error with a reason; a header is never "repaired".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/net_address.hpp"

namespace postern::core {

// v1's maximum (spec section 2.1) and the buffer the spec suggests for v2 with
// a few TLVs; a larger v2 header is refused rather than buffered.
inline constexpr std::size_t kProxyV1MaxHeader = 107;
inline constexpr std::size_t kProxyV2DefaultMaxHeader = 536;

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // True for v1 UNKNOWN, v2 LOCAL and v2 UNSPEC/UNIX: the connection's own
  // addresses stand (source and destination are unset).
  bool local = false;
  PeerAddress source;       // the real client
  PeerAddress destination;  // the address the client connected to
};

enum class ProxyStatus {
  NeedMore,  // every byte given was used; the header is not complete
  Done,      // `header` is complete
  Error,     // not a valid header; `error` says why. Close the connection.
};

struct ProxyResult {
  ProxyStatus status = ProxyStatus::NeedMore;
  // Bytes of this call's input that belong to the header (all of them on
  // NeedMore; on Done the rest is the session's and was not looked at).
  std::size_t consumed = 0;
  std::size_t header_size = 0;  // Done: the whole header, over every call
  ProxyHeader header;           // Done
  std::string_view error;       // Error: a constant, for logs
};

class ProxyProtocolParser {
 public:
  // `max_v2` bounds a v2 header with its TLVs (at least 16 + 36).
  explicit ProxyProtocolParser(std::size_t max_v2 = kProxyV2DefaultMaxHeader) : max_v2_(max_v2) {}

  // Feeds the next bytes of the connection. After Done or Error the parser
  // keeps answering the same and uses nothing more.
  ProxyResult feed(std::string_view bytes);

  // Bytes held so far (never more than the header's bound).
  std::size_t buffered_bytes() const { return buffer_.size(); }

 private:
  std::size_t wanted() const;  // how many more bytes the header needs, at most
  ProxyResult finish();        // once the whole header is in buffer_
  ProxyResult fail(std::string_view why);

  std::size_t max_v2_;
  std::string buffer_;
  ProxyResult result_;  // sticky once not NeedMore
};

}  // namespace postern::core
