// The POP3 commands as a table (STYLE.md rule 6): name, the states where it is
// allowed, and a side-effect-free check of its arguments. The session acts on
// a CheckedCommand; it never looks at the raw words again.
//
// RFC 1939 section 3: keywords are case-insensitive, 3 or 4 characters;
// message numbers are decimal and start at 1. RFC 2449 adds CAPA, RFC 2595
// STLS, RFC 5034 AUTH. XCLIENT is Dovecot's: a trusted proxy tells the node
// the address of the client it speaks for.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "core/net_address.hpp"
#include "core/pop3_codec.hpp"

namespace postern::node::pop3 {

// The codec lives in core (the proxy reads POP3 commands too).
using core::pop3::CodecLimits;
using core::pop3::CodecResult;
using core::pop3::CodecStatus;
using core::pop3::Pop3Codec;
using core::pop3::Pop3Command;
using core::pop3::split_command;

enum class Pop3State { Authorization, Transaction };
std::string_view pop3_state_name(Pop3State s);

enum class Verb {
  Capa,
  User,
  Pass,
  Auth,
  Stls,
  Quit,
  Stat,
  List,
  Retr,
  Dele,
  Noop,
  Rset,
  Top,
  Uidl,
  Xclient
};

struct CommandSpec {
  Verb verb;
  std::string_view name;
  bool in_authorization;
  bool in_transaction;
  std::uint8_t min_args;
  std::uint8_t max_args;
};

// The table entry for an upper-cased keyword; nullptr if unknown.
const CommandSpec* find_command(std::string_view name);
std::span<const CommandSpec> command_table();

struct CheckedCommand {
  Verb verb = Verb::Noop;
  std::string_view name;      // the table's spelling, for logs and metrics
  std::uint32_t message = 0;  // LIST, RETR, DELE, TOP, UIDL: 1-based; 0 = none given
  std::uint64_t lines = 0;    // TOP
  std::string text;           // USER: the name; PASS: the password; AUTH: the mechanism
  bool has_initial = false;   // AUTH: an initial response was given
  std::string initial;        // AUTH: the initial response as sent ("=" is empty)
  // XCLIENT: ADDR and PORT when given with a value. Other attributes (TTL,
  // SESSION, LOGIN...) and Postfix's "[UNAVAILABLE]" values are ignored.
  std::optional<core::IpAddress> client_ip;
  std::optional<std::uint16_t> client_port;
};

enum class CheckError {
  Unknown,       // no such command
  WrongState,    // not allowed in the current state
  BadArguments,  // missing, extra or malformed arguments
};

// The reply text (without "-ERR ") for a check failure.
std::string_view check_error_text(CheckError e);

tl::expected<CheckedCommand, CheckError> check_command(const Pop3Command& command, Pop3State state);

// A message number: 1..2^32-1 in plain decimal (no sign, no spaces).
bool parse_message_number(std::string_view text, std::uint32_t& out);

}  // namespace postern::node::pop3
