// libFuzzer target for the argument parsers of the IMAP server's commands that
// take the most structure from a client: FETCH items and modifiers, flag lists
// (STORE, APPEND), APPEND's date-time and sequence sets. The input is a
// client's byte stream; every command the codec yields is handed to each
// parser, which must answer with a value or an error and never crash, loop or
// read out of bounds. Seeds: corpus/imap_fetch.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "backend/imap/fetch_request.hpp"
#include "backend/imap/flags.hpp"
#include "backend/imap/imap_date.hpp"
#include "core/imap_parser.hpp"
#include "core/imap_string.hpp"

namespace {

using namespace postern;

void exercise(const core::imap::Command& c) {
  std::span<const core::imap::Token> args(c.args);
  for (std::size_t skip = 0; skip <= args.size() && skip < 3; ++skip) {
    auto rest = args.subspan(skip);
    (void)node::imap::parse_fetch(rest, false);
    if (auto r = node::imap::parse_fetch(rest, true)) {
      for (const auto& item : r->items) (void)node::imap::section_text(item.section);
    }
    if (!rest.empty()) (void)node::imap::parse_store_flags(rest);
  }
  for (const auto& t : c.args) {
    (void)node::imap::parse_flag_list(t, true);
    (void)node::imap::parse_date_time(t.text);
    (void)node::imap::parse_date(t.text);
    (void)node::imap::parse_rfc5322_date(t.text);
    (void)core::imap::parse_sequence_set(t.text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  core::imap::Limits limits;
  limits.max_line = 4096;
  limits.max_literal = 4096;
  core::imap::ImapParser parser(limits);
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    auto r = parser.feed(in);
    in.remove_prefix(r.consumed);
    if (r.status == core::imap::Status::Command) exercise(r.command);
  }
  return 0;
}
