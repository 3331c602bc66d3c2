// Helpers for the IMAP unit tests: command arguments as the real parser makes
// them.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/imap_parser.hpp"

namespace postern::node::imap::test {

// The arguments of "t <command>\r\n" (the command name itself excluded).
inline std::vector<core::imap::Token> command_args(std::string_view command) {
  core::imap::ImapParser parser;
  const std::string line = "t " + std::string(command) + "\r\n";
  auto result = parser.feed(line);
  REQUIRE(result.status == core::imap::Status::Command);
  return result.command.args;
}

}  // namespace postern::node::imap::test
