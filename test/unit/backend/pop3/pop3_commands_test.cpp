#include "backend/pop3/pop3_commands.hpp"

#include <doctest/doctest.h>

#include <string>

// In the namespace rather than `using namespace`: in a unity build, a
// neighbouring file may name the same types.
namespace postern::node::pop3 {

namespace {

tl::expected<CheckedCommand, CheckError> check(std::string_view line, Pop3State state) {
  return check_command(split_command(line), state);
}

CheckError error_of(std::string_view line, Pop3State state) {
  auto r = check(line, state);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

constexpr auto kAuth = Pop3State::Authorization;
constexpr auto kTrans = Pop3State::Transaction;

}  // namespace

TEST_CASE("pop3 commands: states") {
  for (auto line : {"CAPA", "QUIT"}) {
    CHECK(check(line, kAuth).has_value());
    CHECK(check(line, kTrans).has_value());
  }
  for (auto line : {"USER a", "PASS b", "AUTH PLAIN", "STLS"}) {
    CHECK(check(line, kAuth).has_value());
    CHECK(error_of(line, kTrans) == CheckError::WrongState);
  }
  for (auto line : {"STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 0", "UIDL"}) {
    CHECK(check(line, kTrans).has_value());
    CHECK(error_of(line, kAuth) == CheckError::WrongState);
  }
  CHECK(error_of("APOP a b", kAuth) == CheckError::Unknown);
  CHECK(error_of("XYZZY", kTrans) == CheckError::Unknown);
  CHECK(error_of("", kTrans) == CheckError::Unknown);
}

TEST_CASE("pop3 commands: arguments") {
  CHECK(error_of("RETR", kTrans) == CheckError::BadArguments);
  CHECK(error_of("RETR 1 2", kTrans) == CheckError::BadArguments);
  CHECK(error_of("RETR 0", kTrans) == CheckError::BadArguments);
  CHECK(error_of("RETR -1", kTrans) == CheckError::BadArguments);
  CHECK(error_of("RETR +1", kTrans) == CheckError::BadArguments);
  CHECK(error_of("RETR 1x", kTrans) == CheckError::BadArguments);
  CHECK(error_of("RETR 4294967296", kTrans) == CheckError::BadArguments);
  CHECK(check("RETR 4294967295", kTrans)->message == 4294967295u);
  CHECK(error_of("TOP 1", kTrans) == CheckError::BadArguments);
  CHECK(error_of("TOP 1 x", kTrans) == CheckError::BadArguments);
  CHECK(error_of("STAT 1", kTrans) == CheckError::BadArguments);
  CHECK(error_of("CAPA x", kAuth) == CheckError::BadArguments);
  CHECK(error_of("USER", kAuth) == CheckError::BadArguments);
  CHECK(error_of("PASS", kAuth) == CheckError::BadArguments);

  auto top = check("top 3 25", kTrans);
  CHECK(top->verb == Verb::Top);
  CHECK(top->name == "TOP");
  CHECK(top->message == 3);
  CHECK(top->lines == 25);
  CHECK(check("LIST", kTrans)->message == 0);
  CHECK(check("UIDL 12", kTrans)->message == 12);
  CHECK(check("PASS two words", kAuth)->text == "two words");

  auto auth = check("auth plain AGEAYgBj", kAuth);
  CHECK(auth->text == "PLAIN");
  CHECK(auth->has_initial);
  CHECK(auth->initial == "AGEAYgBj");
  CHECK_FALSE(check("AUTH PLAIN", kAuth)->has_initial);
  CHECK(check("AUTH", kAuth)->text.empty());
}

TEST_CASE("pop3 commands: the table is searchable by every name") {
  for (const auto& spec : command_table()) CHECK(find_command(spec.name) == &spec);
  CHECK(find_command("capa") == nullptr);  // names arrive upper-cased
}

TEST_CASE("pop3 commands: XCLIENT attributes") {
  auto x = check("XCLIENT ADDR=192.0.2.7 PORT=4711", kAuth);
  REQUIRE(x.has_value());
  CHECK(x->verb == Verb::Xclient);
  CHECK(x->client_ip->to_string() == "192.0.2.7");
  CHECK(*x->client_port == 4711);
  // Names in any case, IPv6 with or without Postfix's prefix, unknown
  // attributes and unknown values ignored.
  x = check("xclient addr=IPV6:2001:db8::7 ttl=5 SESSION=abc LOGIN=[UNAVAILABLE]", kAuth);
  REQUIRE(x.has_value());
  CHECK(x->client_ip->to_string() == "2001:db8::7");
  CHECK_FALSE(x->client_port.has_value());
  CHECK(check("XCLIENT ADDR=2001:db8::8 PORT=[UNAVAILABLE]", kAuth)->client_ip->v6);
  CHECK_FALSE(check("XCLIENT TTL=3", kAuth)->client_ip.has_value());

  CHECK(error_of("XCLIENT", kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT ADDR=999.1.1.1", kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT ADDR=host.example", kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT ADDR=", kAuth) == CheckError::BadArguments);
  CHECK(error_of(std::string("XCLIENT ADDR=1.2.3.4\0x", 22), kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT PORT=65536", kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT PORT=-1", kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT ADDR", kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT =1", kAuth) == CheckError::BadArguments);
  CHECK(error_of("XCLIENT ADDR=192.0.2.7", kTrans) == CheckError::WrongState);
}

}  // namespace postern::node::pop3
