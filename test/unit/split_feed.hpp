// Helpers for the rule that every parser test replays its input split at every
// byte (STYLE.md rule 2): the result must not depend on how the bytes arrived.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::test {

// Calls `run` once per way of cutting `input` into chunks of a fixed size
// 1..input.size(), and once more with every two-piece split. `run` receives the
// chunks and returns a printable summary of what the parser produced; every
// summary must equal the one for the whole input in one piece. Returns the
// first mismatch as "chunking ...: got X, expected Y", or "" when all agree.
inline std::string check_split_invariance(
    std::string_view input,
    const std::function<std::string(const std::vector<std::string_view>&)>& run) {
  const std::string expected = run({input});
  auto check = [&](const std::vector<std::string_view>& chunks,
                   const std::string& how) -> std::string {
    std::string got = run(chunks);
    if (got != expected) return "chunking " + how + ": got\n" + got + "\nexpected\n" + expected;
    return "";
  };
  for (std::size_t size = 1; size < input.size(); ++size) {
    std::vector<std::string_view> chunks;
    for (std::size_t pos = 0; pos < input.size(); pos += size)
      chunks.push_back(input.substr(pos, size));
    if (auto err = check(chunks, "every " + std::to_string(size) + " bytes"); !err.empty())
      return err;
  }
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    if (auto err =
            check({input.substr(0, cut), input.substr(cut)}, "at byte " + std::to_string(cut));
        !err.empty()) {
      return err;
    }
  }
  return "";
}

}  // namespace postern::test
