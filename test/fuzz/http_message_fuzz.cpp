// libFuzzer target for core/http_message (STYLE.md rule 2). The input is the
// start of a connection: a request head and its body, or (when the hash says
// so) a response head and its body. The head is parsed whole and fed in
// chunks whose sizes come from the input; both must agree, and the body
// reader must give the same bytes and end at the same place however its input
// is cut. A parsed head written back must parse to the same head; the text
// helpers run over the head's values.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/http_message.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::fnv1a;
using postern::fuzz::require;

using namespace postern::core::http;

std::string describe(const Headers& h) {
  std::string out;
  for (const auto& f : h.fields) out += "|" + f.name + ":" + f.value;
  return out;
}

// The head parsed from a buffer that grows chunk by chunk, as a server does.
template <typename Parse>
std::string parse_growing(std::string_view input, std::uint32_t hash, bool chunked, Parse parse,
                          std::size_t& consumed) {
  std::string buffer;
  std::size_t pos = 0;
  while (pos < input.size()) {
    std::size_t n = input.size() - pos;
    if (chunked)
      n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 37));
    buffer.append(input.substr(pos, n));
    pos += n;
    auto r = parse(buffer);
    if (!r) {
      require(r.error().status >= 400 && r.error().status <= 505 && !r.error().message.empty());
      return "error " + std::to_string(r.error().status) + r.error().message;
    }
    if (*r) {
      consumed = (*r)->consumed;
      require(consumed > 0 && consumed <= buffer.size());
      return "ok";
    }
  }
  return "need_more";
}

// The body through a BodyReader, the input cut into chunks as above.
std::string read_body(Framing framing, std::string_view input, std::uint32_t hash, bool chunked,
                      std::size_t max_line) {
  BodyReader reader(framing, max_line);
  std::string pending, body;
  std::size_t pos = 0;
  while (pos < input.size() && !reader.done()) {
    std::size_t n = input.size() - pos;
    if (chunked)
      n = std::min<std::size_t>(n, 1 + ((static_cast<unsigned char>(input[pos]) ^ hash) % 23));
    pending.append(input.substr(pos, n));
    pos += n;
    auto step = reader.feed(pending);
    if (!step) return "error " + step.error().message;
    require(step->consumed <= pending.size());
    std::size_t data = 0;
    for (auto d : step->data) {
      require(d.data() >= pending.data() && d.data() + d.size() <= pending.data() + step->consumed);
      body.append(d);
      data += d.size();
    }
    require(data <= step->consumed);
    pending.erase(0, step->consumed);
    // Only a line that is still arriving is left over, and it is bounded.
    if (!reader.done()) require(pending.size() <= max_line + 2);
  }
  if (!reader.done()) reader.end_of_input();
  require(reader.body_bytes() == body.size());
  if (framing.kind == Framing::Length && reader.done()) require(body.size() == framing.length);
  const std::size_t after = pending.size() + (input.size() - pos);
  return body + (reader.done() ? " done " : " open ") + std::to_string(after);
}

// A head written back parses to the same head.
void check_round_trip(const RequestHead& head) {
  if (!head.headers.get("host")) return;  // HTTP/1.0 without Host: not valid as 1.1
  auto again = parse_request_head(serialize(head), Limits{1 << 20, 1 << 20, 1000});
  require(again && *again);
  const RequestHead& h = (*again)->head;
  require(h.method == head.method && h.target == head.target && h.path == head.path &&
          h.query == head.query && describe(h.headers) == describe(head.headers));
}

void check_text_helpers(const RequestHead& head) {
  for (const auto& f : head.headers.fields) {
    require(percent_decode(percent_encode(f.value)) == f.value);
    if (auto d = percent_decode(f.value, true)) require(d->size() <= f.value.size());
  }
  if (auto v = query_param(head.query, "q")) require(v->size() <= head.query.size());
  if (auto c = cookie_value(head.headers, "postern_route")) {
    require(c->find(';') == std::string::npos);
  }
  (void)head.keep_alive();
}

void fuzz_request(std::string_view input, std::uint32_t hash) {
  Limits limits;
  if (hash & 2) {
    limits.max_head = 64 + (hash >> 8) % 256;
    limits.max_target = 8 + (hash >> 16) % 64;
    limits.max_fields = 1 + (hash >> 24) % 8;
  }
  auto parse = [&](std::string_view b) { return parse_request_head(b, limits); };
  std::size_t consumed = 0, consumed_chunked = 0;
  const std::string whole = parse_growing(input, hash, false, parse, consumed);
  require(parse_growing(input, hash, true, parse, consumed_chunked) == whole);
  if (whole != "ok") return;
  require(consumed == consumed_chunked && consumed <= limits.max_head);
  const RequestHead head = (*parse(input))->head;
  check_round_trip(head);
  check_text_helpers(head);
  auto framing = request_framing(head);
  if (!framing) return;
  require(framing->kind != Framing::UntilClose);
  const std::size_t max_line = (hash & 4) ? 8 + (hash >> 12) % 64 : 4096;
  const std::string_view body = input.substr(consumed);
  require(read_body(*framing, body, hash, false, max_line) ==
          read_body(*framing, body, hash, true, max_line));
}

void fuzz_response(std::string_view input, std::uint32_t hash) {
  auto parse = [](std::string_view b) { return parse_response_head(b); };
  std::size_t consumed = 0, consumed_chunked = 0;
  const std::string whole = parse_growing(input, hash, false, parse, consumed);
  require(parse_growing(input, hash, true, parse, consumed_chunked) == whole);
  if (whole != "ok") return;
  require(consumed == consumed_chunked);
  const ResponseHead head = (*parse(input))->head;
  auto again = parse_response_head(serialize(head));
  require(again && *again && (*again)->head.status == head.status &&
          describe((*again)->head.headers) == describe(head.headers));
  auto framing = response_framing(head, (hash & 8) ? "HEAD" : "GET");
  if (!framing) return;
  const std::string_view body = input.substr(consumed);
  require(read_body(*framing, body, hash, false, 4096) ==
          read_body(*framing, body, hash, true, 4096));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::uint32_t hash = fnv1a(input);
  // Responses start with "HTTP/"; anything else is a request.
  if (input.starts_with("HTTP/"))
    fuzz_response(input, hash);
  else
    fuzz_request(input, hash);
  return 0;
}
