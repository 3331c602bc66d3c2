// libFuzzer target for the proxy's watch of a pumped IMAP session
// (proxy/imap_command_scanner.hpp, proxy/imap_handback.hpp; STYLE.md rule 2).
// The hash of the input picks the side:
//   - the client's bytes: ImapCommandScanner, presented as the pump does
//     (what it did not pass, plus the next chunk), in one piece and in
//     chunks whose sizes come from the input: both must pass the same bytes
//     and find the same LOGOUT, which must be a LOGOUT line at a boundary;
//     The command count at the end must be the same too;
//   - the node's bytes after the release command: ImapAnswerScanner,
//     likewise in one piece and in chunks: the same bytes passed, the same
//     answer found, never a byte of the answer passed to the client; and
//     the same bytes through ImapAnswerCounter (the node's bytes before a
//     release), whose count and state must not depend on the chunks.
// Seeds: corpus/imap_handback (sessions with literals, IDLE, and node
// answers tagged with kTag).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/imap_command_scanner.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;
using namespace postern::proxy;

constexpr const char* kTag = "R0123456789abcdef01234567";

std::size_t chunk(std::string_view input, std::size_t pos, std::uint32_t hash, bool chunked) {
  std::size_t n = input.size() - pos;
  if (chunked)
    n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 37));
  return n;
}

std::string run_client(std::string_view input, std::uint32_t hash, bool chunked) {
  ImapCommandScanner s;
  std::string pending, passed;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t n = chunk(input, pos, hash, chunked);
    pending.append(input.substr(pos, n));
    pos += n;
    auto r = s.scan(pending);
    require(r.pass <= pending.size());
    passed.append(pending, 0, r.pass);
    pending.erase(0, r.pass);
    if (r.logout) {
      require(r.logout_len >= 8 && r.logout_len <= pending.size());
      require(r.logout_len <= ImapCommandScanner::kMaxLogoutLine);
      std::string tag;
      require(is_logout_line(std::string_view(pending).substr(0, r.logout_len), &tag));
      require(tag == r.tag);
      require(pending[r.logout_len - 1] == '\n');
      return passed + "|LOGOUT " + tag + "|" + std::to_string(s.commands());
    }
    // What is held back is a short incomplete line.
    require(pending.size() < ImapCommandScanner::kMaxLogoutLine);
    require(pending.find('\n') == std::string::npos);
  }
  return passed + "|" + std::to_string(pending.size()) + "|" + std::to_string(s.commands());
}

std::string run_counter(std::string_view input, std::uint32_t hash, bool chunked) {
  ImapAnswerCounter c;
  std::size_t pos = 0;
  std::uint64_t last = 0;
  while (pos < input.size()) {
    std::size_t n = chunk(input, pos, hash, chunked);
    c.scan(input.substr(pos, n));
    pos += n;
    require(c.tagged() >= last);  // it only counts up
    last = c.tagged();
  }
  // No more tagged answers than lines.
  require(c.tagged() <=
          static_cast<std::uint64_t>(std::count(input.begin(), input.end(), '\n')) + 1);
  return std::to_string(c.tagged()) + (c.at_response_start() ? "s" : "") + (c.lost() ? "l" : "");
}

std::string run_node(std::string_view input, std::uint32_t hash, bool chunked) {
  ImapAnswerScanner h(kTag);
  const std::string marker = std::string(kTag) + " ";
  std::string pending, passed;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t n = chunk(input, pos, hash, chunked);
    pending.append(input.substr(pos, n));
    pos += n;
    auto r = h.scan(pending);
    require(r.pass <= pending.size());
    passed.append(pending, 0, r.pass);
    pending.erase(0, r.pass);
    if (r.done) {
      require(r.answer_len <= pending.size());
      require(pending.compare(0, marker.size(), marker) == 0);
      require(pending[r.answer_len - 1] == '\n');
      require(r.last == (r.answer_len == pending.size()));
      // Nothing of our answer reached the client.
      require(passed.find("\n" + marker) == std::string::npos);
      return passed + "|DONE " + std::string(pending, 0, r.answer_len) + (r.ok ? "+" : "-");
    }
    require(pending.size() <= marker.size() || pending.compare(0, marker.size(), marker) == 0);
  }
  // An unfinished stream: every passed byte came before any marker line.
  require(passed.find("\n" + marker) == std::string::npos);
  return passed + "|" + std::to_string(pending.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  if (hash & 1) {
    require(run_client(input, hash, true) == run_client(input, hash, false));
  } else {
    require(run_node(input, hash, true) == run_node(input, hash, false));
    require(run_counter(input, hash, true) == run_counter(input, hash, false));
  }
  return 0;
}
