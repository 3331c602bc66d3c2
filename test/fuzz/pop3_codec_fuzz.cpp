// libFuzzer target for the POP3 command codec and the command checks (STYLE.md
// rule 2). The input is a client's byte stream; the seeds in corpus/pop3_codec
// are real sessions. A hash of the input picks small limits now and then, so
// the limit paths are reached with small inputs. The stream is parsed twice, in
// one piece and in chunks whose sizes come from the input bytes; both runs
// must report the same events, keep the feed() contract and the memory bound.
// Every RETR/TOP-like input also goes through the dot stuffer, whose output
// must unstuff back to the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backend/pop3/dot_stuffer.hpp"
#include "backend/pop3/pop3_commands.hpp"
#include "core/pop3_codec.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;

using namespace postern::core::pop3;
using namespace postern::node::pop3;

std::string run(std::string_view input, const CodecLimits& limits, std::uint32_t hash,
                bool chunked) {
  Pop3Codec codec(limits);
  std::string out;
  std::size_t pos = 0;
  Pop3State state = (hash & 16) ? Pop3State::Transaction : Pop3State::Authorization;
  while (pos < input.size()) {
    std::size_t n = input.size() - pos;
    if (chunked)
      n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 23));
    std::string_view in = input.substr(pos, n);
    pos += n;
    while (!in.empty()) {
      auto r = codec.feed(in);
      require(r.consumed <= in.size());
      require(r.status == CodecStatus::NeedMore ? r.consumed == in.size() : r.consumed > 0);
      require(codec.buffered_bytes() <= std::max(limits.max_command, limits.max_auth_line) + 1);
      in.remove_prefix(r.consumed);
      if (r.status == CodecStatus::NeedMore) continue;
      out += codec_status_name(r.status);
      if (r.status == CodecStatus::Line) out += r.line;
      if (r.status == CodecStatus::Command) {
        require(r.command.name.size() <= limits.max_command);
        out += r.command.name + "|" + r.command.rest;
        auto checked = check_command(r.command, state);
        out +=
            checked ? std::string(checked->name) : std::string(check_error_text(checked.error()));
        if (checked && checked->verb == Verb::Auth && !checked->has_initial &&
            !checked->text.empty()) {
          codec.expect_line();
        }
      }
      out += '\n';
    }
  }
  return out;
}

// Undoes RFC 1939 byte-stuffing and drops the terminator.
std::string unstuff(std::string_view s) {
  require(s.size() >= 3 && s.substr(s.size() - 3) == ".\r\n");
  s.remove_suffix(3);
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (line_start && s[i] == '.') {
      require(i + 1 < s.size() && s[i + 1] == '.');
      ++i;
    }
    out += s[i];
    line_start = s[i] == '\n';
  }
  return out;
}

void check_stuffer(std::string_view input, std::uint32_t hash) {
  DotStuffer whole;
  std::string a;
  whole.feed(input, a);
  whole.finish(a);
  std::string back = unstuff(a);
  // finish() may add the CRLF of an unfinished last line.
  if (!input.empty() && input.back() != '\n')
    require(back == std::string(input) + "\r\n");
  else
    require(back == input);

  DotStuffer top(hash % 5);
  std::string b;
  for (std::size_t pos = 0; pos < input.size() && !top.done(); pos += 7)
    top.feed(input.substr(pos, 7), b);
  top.finish(b);
  require(unstuff(b).size() <= back.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  CodecLimits limits;
  if (hash & 1) limits.max_command = 12;
  if (hash & 2) limits.max_auth_line = 20;
  const std::string whole = run(input, limits, hash, false);
  require(run(input, limits, hash, true) == whole);
  check_stuffer(input, hash);
  return 0;
}
