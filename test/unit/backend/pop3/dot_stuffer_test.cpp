#include "backend/pop3/dot_stuffer.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/unit/split_feed.hpp"

using postern::node::pop3::DotStuffer;

namespace {

std::string stuff(const std::vector<std::string_view>& chunks,
                  std::optional<std::uint64_t> lines = std::nullopt) {
  DotStuffer s(lines);
  std::string out;
  for (auto c : chunks) {
    if (s.done()) break;
    s.feed(c, out);
  }
  s.finish(out);
  return out;
}

void check_split(std::string_view input, std::optional<std::uint64_t> lines = std::nullopt) {
  auto err = postern::test::check_split_invariance(
      input, [&](const std::vector<std::string_view>& chunks) { return stuff(chunks, lines); });
  CHECK_MESSAGE(err.empty(), err);
}

const std::string kMessage =
    "From: a@example.com\r\nSubject: dots\r\n\r\n.hidden\r\nline 2\r\n..two\r\n.\r\nlast\r\n";

}  // namespace

TEST_CASE("dot stuffer: lines starting with a dot get one more") {
  CHECK(stuff({kMessage}) ==
        "From: a@example.com\r\nSubject: dots\r\n\r\n..hidden\r\nline 2\r\n...two\r\n..\r\nlast\r\n"
        ".\r\n");
  check_split(kMessage);
  CHECK(stuff({".\r\n"}) == "..\r\n.\r\n");
  CHECK(stuff({""}) == ".\r\n");
}

TEST_CASE("dot stuffer: a last line without CRLF is ended") {
  CHECK(stuff({"a\r\n.b"}) == "a\r\n..b\r\n.\r\n");
  check_split("a\r\n.b");
}

TEST_CASE("dot stuffer: TOP sends the header, the blank line and n body lines") {
  CHECK(stuff({kMessage}, 0) == "From: a@example.com\r\nSubject: dots\r\n\r\n.\r\n");
  CHECK(stuff({kMessage}, 2) ==
        "From: a@example.com\r\nSubject: dots\r\n\r\n..hidden\r\nline 2\r\n.\r\n");
  CHECK(stuff({kMessage}, 100) == stuff({kMessage}));
  for (std::uint64_t n : {0, 1, 2, 3, 4, 5}) check_split(kMessage, n);
  // No body at all: everything is header.
  CHECK(stuff({"Subject: x\r\nFrom: y\r\n"}, 0) == "Subject: x\r\nFrom: y\r\n.\r\n");
  // Starts with the blank line: no header.
  CHECK(stuff({"\r\nbody\r\nmore\r\n"}, 1) == "\r\nbody\r\n.\r\n");
}

TEST_CASE("dot stuffer: done once TOP's lines are out") {
  DotStuffer s(1);
  std::string out;
  s.feed("H: v\r\n\r\nb1\r\n", out);
  CHECK(s.done());
  s.feed("b2\r\n", out);
  CHECK(out == "H: v\r\n\r\nb1\r\n");
}
