// libFuzzer target for the DATA phase of the SMTP server: the dot-unstuffing
// end-of-data reader and the Received-header counter used for loop detection.
// The input is what a client sends after "354"; it is read in one piece and in
// chunks whose sizes come from the input bytes; both runs must give the same
// message, the same end and the same count. Checked properties: the end is
// only ever right after "\r\n.\r\n" (or ".\r\n" at the very start), the
// message never holds more bytes than came in, and an unstuffed message
// stuffed again and sent reads back as itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "backend/smtp/data_reader.hpp"
#include "backend/smtp/header_scan.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;
using postern::node::smtp::DataReader;
using postern::node::smtp::HeaderScanner;

struct Outcome {
  std::string message;
  std::size_t consumed = 0;  // input bytes up to and including the end line
  bool done = false;
  std::size_t received = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome run(std::string_view input, std::uint32_t hash, bool chunked) {
  DataReader reader;
  HeaderScanner scan;
  Outcome out;
  std::size_t pos = 0;
  while (pos < input.size() && !out.done) {
    std::size_t n = input.size() - pos;
    if (chunked)
      n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 17));
    std::string piece;
    auto r = reader.feed(input.substr(pos, n), piece);
    require(r.consumed <= n);
    require(r.done || r.consumed == n);
    scan.feed(piece);
    out.message += piece;
    pos += r.consumed;
    out.done = r.done;
  }
  out.consumed = pos;
  out.received = scan.received();
  return out;
}

std::string stuff(std::string_view message) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (line_start && message[i] == '.') out.push_back('.');
    out.push_back(message[i]);
    line_start = message[i] == '\n' && i > 0 && message[i - 1] == '\r';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  const Outcome whole = run(input, hash, false);
  require(run(input, hash, true) == whole);
  require(whole.message.size() <= whole.consumed);
  if (whole.done) {
    const std::string_view used = input.substr(0, whole.consumed);
    require(used == ".\r\n" || (used.size() >= 5 && used.substr(used.size() - 5) == "\r\n.\r\n"));
    // Only CRLF-ended messages can be sent again unchanged.
    if (whole.message.empty() ||
        (whole.message.size() >= 2 && whole.message.substr(whole.message.size() - 2) == "\r\n")) {
      const std::string again = stuff(whole.message) + ".\r\n";
      const Outcome back = run(again, hash, false);
      require(back.done && back.consumed == again.size() && back.message == whole.message);
    }
  }
  return 0;
}
