// libFuzzer target for the users.map parser (STYLE.md rule 2): any bytes, fed in
// two pieces cut where the first byte says, must parse without crashing, and the
// resulting map must answer lookups. The seeds in corpus/file_map are map files.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mapping/file_map.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t cut = data[0] % (size + 1);
  // Now and then a small line limit, so long-line handling is reached with small inputs.
  const std::size_t max_line = data[0] % 8 == 7 ? 32 : postern::mapping::kDefaultMaxMapLineBytes;

  postern::mapping::FileMapParser parser(max_line);
  parser.feed(input.substr(0, cut));
  parser.feed(input.substr(cut));
  auto result = parser.finish();
  for (const auto& entry : result.map.entries()) {
    auto at = entry.key.rfind('@');
    if (at == std::string::npos) continue;
    postern::mapping::Address address{entry.key.substr(0, at), entry.key.substr(at + 1)};
    if (address.local.empty()) address.local = "x";
    (void)result.map.lookup(address);
  }
  return 0;
}
