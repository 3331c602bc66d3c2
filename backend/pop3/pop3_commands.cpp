#include "backend/pop3/pop3_commands.hpp"

#include <array>
#include <string>
#include <vector>

namespace postern::node::pop3 {

namespace {

constexpr std::array kCommands = {
    //            verb         name    auth   trans  min max
    CommandSpec{Verb::Capa, "CAPA", true, true, 0, 0},
    CommandSpec{Verb::User, "USER", true, false, 1, 255},  // names may hold spaces
    CommandSpec{Verb::Pass, "PASS", true, false, 1, 255},  // so may passwords
    CommandSpec{Verb::Auth, "AUTH", true, false, 0, 2},
    CommandSpec{Verb::Stls, "STLS", true, false, 0, 0},
    CommandSpec{Verb::Quit, "QUIT", true, true, 0, 0},
    CommandSpec{Verb::Stat, "STAT", false, true, 0, 0},
    CommandSpec{Verb::List, "LIST", false, true, 0, 1},
    CommandSpec{Verb::Retr, "RETR", false, true, 1, 1},
    CommandSpec{Verb::Dele, "DELE", false, true, 1, 1},
    CommandSpec{Verb::Noop, "NOOP", false, true, 0, 0},
    CommandSpec{Verb::Rset, "RSET", false, true, 0, 0},
    CommandSpec{Verb::Top, "TOP", false, true, 2, 2},
    CommandSpec{Verb::Uidl, "UIDL", false, true, 0, 1},
    CommandSpec{Verb::Xclient, "XCLIENT", true, false, 1, 16},
};

bool parse_decimal(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// XCLIENT NAME=VALUE ...: every word must be an attribute; a value in
// brackets ("[UNAVAILABLE]", "[TEMPUNAVAIL]") means the proxy does not know.
bool check_xclient(const std::vector<std::string>& args, CheckedCommand& out) {
  for (const std::string& arg : args) {
    const auto eq = arg.find('=');
    if (eq == 0 || eq == std::string::npos) return false;
    const std::string_view name = std::string_view(arg).substr(0, eq);
    std::string_view value = std::string_view(arg).substr(eq + 1);
    if (value.starts_with('[')) continue;
    if (iequals(name, "ADDR")) {
      // Postfix writes IPv6 addresses as "IPV6:2001:db8::1".
      if (value.size() > 5 && iequals(value.substr(0, 5), "IPV6:")) value.remove_prefix(5);
      // inet_pton would stop at a NUL and take "1.2.3.4\0junk".
      if (value.find_first_not_of("0123456789abcdefABCDEF.:") != std::string_view::npos)
        return false;
      auto ip = core::IpAddress::parse(value);
      if (!ip) return false;
      out.client_ip = *ip;
    } else if (iequals(name, "PORT")) {
      std::uint64_t port = 0;
      if (!parse_decimal(value, 65535, port)) return false;
      out.client_port = static_cast<std::uint16_t>(port);
    }
  }
  return true;
}

}  // namespace

std::string_view pop3_state_name(Pop3State s) {
  return s == Pop3State::Authorization ? "authorization" : "transaction";
}

const CommandSpec* find_command(std::string_view name) {
  for (const auto& spec : kCommands) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::span<const CommandSpec> command_table() {
  return kCommands;
}

std::string_view check_error_text(CheckError e) {
  switch (e) {
    case CheckError::Unknown:
      return "Unknown command";
    case CheckError::WrongState:
      return "Command not valid in this state";
    case CheckError::BadArguments:
      return "Invalid arguments";
  }
  return "Invalid command";
}

bool parse_message_number(std::string_view text, std::uint32_t& out) {
  std::uint64_t v = 0;
  if (!parse_decimal(text, 0xffffffffu, v) || v == 0) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

tl::expected<CheckedCommand, CheckError> check_command(const Pop3Command& command,
                                                       Pop3State state) {
  const CommandSpec* spec = find_command(command.name);
  if (spec == nullptr) return tl::unexpected(CheckError::Unknown);
  const bool allowed =
      state == Pop3State::Authorization ? spec->in_authorization : spec->in_transaction;
  if (!allowed) return tl::unexpected(CheckError::WrongState);
  const auto& args = command.args;
  if (args.size() < spec->min_args || args.size() > spec->max_args)
    return tl::unexpected(CheckError::BadArguments);

  CheckedCommand out;
  out.verb = spec->verb;
  out.name = spec->name;
  switch (spec->verb) {
    case Verb::User:
    case Verb::Pass:
      // The whole rest of the line: spaces inside are part of the value.
      out.text = command.rest;
      break;
    case Verb::Auth:
      if (!args.empty()) out.text = args[0];
      for (char& c : out.text) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
      if (args.size() == 2) {
        out.has_initial = true;
        out.initial = args[1];
      }
      break;
    case Verb::List:
    case Verb::Uidl:
      if (!args.empty() && !parse_message_number(args[0], out.message))
        return tl::unexpected(CheckError::BadArguments);
      break;
    case Verb::Retr:
    case Verb::Dele:
      if (!parse_message_number(args[0], out.message))
        return tl::unexpected(CheckError::BadArguments);
      break;
    case Verb::Top:
      if (!parse_message_number(args[0], out.message) ||
          !parse_decimal(args[1], UINT64_MAX, out.lines)) {
        return tl::unexpected(CheckError::BadArguments);
      }
      break;
    case Verb::Xclient:
      if (!check_xclient(args, out)) return tl::unexpected(CheckError::BadArguments);
      break;
    default:
      break;
  }
  return out;
}

}  // namespace postern::node::pop3
