// libFuzzer target for the MIME structure parser (STYLE.md rule 2): any bytes,
// fed in chunks whose sizes the first byte picks, must parse without crashing;
// the structure must survive serialize/deserialize exactly and render as
// BODYSTRUCTURE, BODY and ENVELOPE. The seeds in corpus/mime_parser are small
// messages of the shapes the unit corpus covers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backend/mime/encoded_words.hpp"
#include "backend/mime/imap_format.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"

namespace mime = postern::node::mime;

namespace {

void render(const mime::MessagePart& part) {
  (void)mime::envelope_to_imap(part.envelope);
  if (part.envelope.subject) (void)mime::decode_encoded_words(*part.envelope.subject);
  for (const auto& child : part.children) render(child);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Small limits now and then, so the limit paths are reached with small inputs.
  mime::Limits limits;
  if (data[0] & 0x80) {
    limits.max_header_bytes = 200;
    limits.max_header_fields = 8;
    limits.max_depth = 4;
    limits.max_parts = 6;
    limits.max_boundary_bytes = 16;
  }
  mime::MessageParser parser(limits);
  for (std::size_t pos = 0; pos < input.size(); pos += chunk) parser.feed(input.substr(pos, chunk));
  const mime::MessagePart root = parser.finish();

  if (root.end_offset != input.size()) std::abort();
  const auto back = mime::deserialize(mime::serialize(root));
  if (!back || !(*back == root)) std::abort();
  (void)mime::bodystructure_to_imap(root, true);
  (void)mime::bodystructure_to_imap(root, false);
  render(root);
  (void)mime::find_section(root, "1.2.1");
  return 0;
}
