// libFuzzer target for the IMAP command parser and its string helpers (STYLE.md
// rule 2). The input is a client's byte stream; the seeds in corpus/imap_parser
// are real sessions. A hash of the input picks the limits (small ones now and
// then, so the limit paths are reached with small inputs) and when the session
// side calls expect_line(). The stream is parsed twice, in one piece and in
// chunks whose sizes come from the input bytes; both runs must report the same
// events, keep the feed() contract and stay within the memory bound. Every atom
// and string the parser yields also goes through the helpers, whose round trips
// must hold.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/imap_parser.hpp"
#include "core/imap_string.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;

using namespace postern::core::imap;

// What our own parser reads back as the one argument of `a X <encoded>`.
std::string read_back(const std::string& encoded) {
  ImapParser parser;
  const std::string line = "a X " + encoded + "\r\n";
  std::string_view in = line;
  while (!in.empty()) {
    auto r = parser.feed(in);
    in.remove_prefix(r.consumed);
    if (r.status == Status::Command && r.command.args.size() == 1) return r.command.args[0].text;
    if (r.status == Status::Command || r.status == Status::Error) break;
  }
  return "<not read back>";
}

void check_helpers(const std::string& text) {
  if (text.size() > 256) return;
  require(read_back(imap_astring(text)) == text);
  if (auto utf8 = mutf7_to_utf8(text)) require(mutf7_to_utf8(utf8_to_mutf7(*utf8)) == utf8);
  require(mutf7_to_utf8(utf8_to_mutf7(text)).has_value());
  if (auto set = parse_sequence_set(text)) {
    require(parse_sequence_set(set->to_string()) == set);
    std::uint64_t visited = 0;
    set->for_each(7, 64, [&](std::uint32_t n) {
      require(set->contains(n, 7));
      ++visited;
    });
    require(visited <= set->count(7));
  }
}

void describe(const Token& t, std::string& out, bool helpers) {
  out += static_cast<char>('0' + static_cast<int>(t.kind));
  out += std::to_string(t.text.size()) + ":" + t.text;
  if (t.kind == Token::Kind::List) {
    out += '(';
    for (const Token& c : t.children) describe(c, out, helpers);
    out += ')';
  }
  if (helpers && t.kind != Token::Kind::List) check_helpers(t.text);
}

// Parses `input` in chunks (whole when `chunked` is false) and returns a summary
// of the events.
std::string run(std::string_view input, const Limits& limits, std::uint32_t hash, bool chunked) {
  ImapParser parser(limits);
  std::string out;
  std::size_t events = 0;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t n = input.size() - pos;
    if (chunked)
      n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 23));
    std::string_view in = input.substr(pos, n);
    pos += n;
    while (!in.empty()) {
      auto r = parser.feed(in);
      require(r.consumed <= in.size());
      require(r.status == Status::NeedMore ? r.consumed == in.size() : r.consumed > 0);
      require(parser.buffered_bytes() <= limits.max_line + limits.max_literal);
      in.remove_prefix(r.consumed);
      if (r.status == Status::NeedMore) continue;
      out += std::to_string(static_cast<int>(r.status)) + " ";
      switch (r.status) {
        case Status::Command:
          out += r.command.tag + " " + r.command.name;
          for (const Token& t : r.command.args) describe(t, out, !chunked);
          if (r.command.name == "IDLE" || r.command.name == "AUTHENTICATE") parser.expect_line();
          break;
        case Status::Continuation:
          out += std::to_string(r.literal_size);
          break;
        case Status::Line:
          out += r.line;
          break;
        case Status::Error:
          out += std::to_string(static_cast<int>(r.error.kind)) + r.error.tag + r.error.message;
          out += std::to_string(r.literal_size);
          break;
        case Status::NeedMore:
          break;
      }
      out += '\n';
      // Now and then the session wants a raw line at an odd moment.
      if (++events % 5 == (hash >> 8) % 7) parser.expect_line();
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  Limits limits;
  if (hash & 1) limits.max_line = 48;
  if (hash & 2) limits.max_literal = 16;
  if (hash & 4) limits.max_depth = 3;
  if (hash & 8) limits.max_tokens = 12;
  const std::string whole = run(input, limits, hash, false);
  require(run(input, limits, hash, true) == whole);
  return 0;
}
