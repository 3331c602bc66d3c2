// libFuzzer target for the multipart/form-data parser. The input's first line
// is the boundary, the rest the body; the first byte picks the limits. Any
// input must parse or fail with a message; a success must respect the limits,
// strip paths from file names and return data that is a slice of the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "backend/webmail/form_data.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace webmail = postern::node::webmail;
using postern::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  webmail::FormLimits limits;
  if (data[0] & 1) {
    limits.max_parts = 3;
    limits.max_part_header = 64;
  }
  const std::size_t lf = std::min(input.find('\n'), input.size());
  const std::string content_type =
      "multipart/form-data; boundary=\"" + std::string(input.substr(0, lf)) + "\"";
  const std::string_view body = lf < input.size() ? input.substr(lf + 1) : std::string_view();

  const auto parts = webmail::parse_form_data(content_type, body, limits);
  if (!parts) {
    require(!parts.error().empty());
    return 0;
  }
  require(parts->size() <= limits.max_parts);
  std::size_t total = 0;
  for (const auto& part : *parts) {
    total += part.data.size();
    require(body.find(part.data) != std::string_view::npos);
    if (part.filename) require(part.filename->find_first_of("/\\") == std::string::npos);
    require(!part.content_type.empty());
  }
  require(total <= body.size());
  return 0;
}
