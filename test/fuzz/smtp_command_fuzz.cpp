// libFuzzer target for the SMTP command codec (STYLE.md rule 2). The input is a
// client's command-phase byte stream; the seeds in corpus/smtp_command are real
// sessions. A hash of the input picks a small line limit now and then, so the
// over-long path is reached with small inputs. The stream is split into lines
// twice, in one piece and in chunks whose sizes come from the input bytes; both
// runs must report the same events and keep the feed() contract and memory
// bound. Every line goes through parse_command: errors must carry one of the
// replies the header names, and a parsed MAIL/RCPT must survive being written
// back out and parsed again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/smtp_command.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;

using namespace postern::core::smtp;

// Writes a parsed MAIL/RCPT back as a command line; it must parse the same.
void check_round_trip(const Command& cmd) {
  std::string line = cmd.verb == Verb::Mail ? "MAIL FROM:<" : "RCPT TO:<";
  line += cmd.path.address() + ">";
  for (const auto& p : cmd.parameters) line += " " + p.keyword + (p.value ? "=" + *p.value : "");
  auto again = parse_command(line);
  require(again.has_value());
  require(again->verb == cmd.verb);
  require(again->path.address() == cmd.path.address());
  require(again->path.null == cmd.path.null && again->path.postmaster == cmd.path.postmaster);
  require(again->parameters.size() == cmd.parameters.size());
}

std::string describe(std::string_view line) {
  auto cmd = parse_command(line);
  if (!cmd) {
    const int c = cmd.error().code;
    require(c == 500 || c == 501 || c == 502 || c == 504 || c == 553 || c == 555);
    require(!cmd.error().enhanced.empty() && !cmd.error().text.empty());
    return std::to_string(c);
  }
  if (cmd->verb == Verb::Mail || cmd->verb == Verb::Rcpt) check_round_trip(*cmd);
  return std::string(verb_name(cmd->verb)) + "|" + cmd->path.address();
}

std::string run(std::string_view input, LineLimits limits, std::uint32_t hash, bool chunked) {
  LineCodec codec(limits);
  std::string out;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t n = input.size() - pos;
    if (chunked)
      n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 23));
    std::string_view in = input.substr(pos, n);
    pos += n;
    while (!in.empty()) {
      auto ev = codec.feed(in);
      require(ev.consumed <= in.size());
      require(ev.status == LineStatus::NeedMore ? ev.consumed == in.size() : ev.consumed > 0);
      require(codec.buffered_bytes() <= limits.max_line);
      in.remove_prefix(ev.consumed);
      if (ev.status == LineStatus::Line) {
        require(ev.line.size() + 2 <= limits.max_line || limits.max_line < 2);
        require(ev.line.find('\0') == std::string::npos);
        out += "L" + describe(ev.line) + "\n";
      } else if (ev.status == LineStatus::Error) {
        out += "E" + std::to_string(static_cast<int>(ev.kind)) + "\n";
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  LineLimits limits;
  if (hash & 1) limits.max_line = 24;
  const std::string whole = run(input, limits, hash, false);
  require(run(input, limits, hash, true) == whole);
  return 0;
}
