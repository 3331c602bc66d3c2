#include "backend/mime/structure_codec.hpp"

#include <doctest/doctest.h>

#include <string>

#include "test/unit/backend/mime/mime_test_support.hpp"

using postern::node::mime::deserialize;
using postern::node::mime::MessagePart;
using postern::node::mime::parse_message;
using postern::node::mime::serialize;
using postern::node::mime::test::read_corpus;

TEST_CASE("mime codec: every corpus message round-trips exactly") {
  for (const char* name :
       {"simple_text.eml", "alternative.eml", "mixed_attachments.eml", "related_in_alternative.eml",
        "rfc822_attachment.eml", "digest.eml", "missing_close.eml", "no_boundary.eml",
        "lf_only.eml", "eight_bit_headers.eml", "encoded_words.eml", "boundary_prefix.eml"}) {
    CAPTURE(name);
    const MessagePart root = parse_message(read_corpus(name));
    const std::string blob = serialize(root);
    const auto back = deserialize(blob);
    REQUIRE(back);
    CHECK(*back == root);
    CHECK(serialize(*back) == blob);
  }
}

namespace {

// Every field set, with the values most likely to break an encoding.
MessagePart unusual_part() {
  MessagePart p;
  p.header_offset = 1;
  p.body_offset = 0xFFFFFFFFFFull;
  p.end_offset = ~0ull;
  p.body_lines = 0xFFFFFFFFu;
  p.description = std::string();  // present but empty, unlike id (absent)
  p.params = {{"name", std::string("\xFF\0\x80", 3)}};
  p.envelope.subject = "caf\xE9";
  p.envelope.to = {{std::nullopt, "group", std::nullopt}, {}};
  p.children.resize(2);
  p.children[1].language = {"en", ""};
  return p;
}

}  // namespace

TEST_CASE("mime codec: raw bytes, large offsets and absent-versus-empty survive") {
  const MessagePart original = unusual_part();
  const auto back = deserialize(serialize(original));
  REQUIRE(back);
  CHECK(*back == original);
  CHECK(!back->id);
  REQUIRE(back->description);
  CHECK(back->description->empty());
}

TEST_CASE("mime codec: corrupt input is refused, never trusted") {
  const std::string blob = serialize(parse_message(read_corpus("rfc822_attachment.eml")));
  CHECK(!deserialize(""));
  CHECK(!deserialize("PM"));
  CHECK(!deserialize("PM\x02" + blob.substr(3)));  // an unknown version
  CHECK(!deserialize(blob + "x"));                 // trailing bytes
  for (std::size_t cut = 0; cut < blob.size(); ++cut) {
    CAPTURE(cut);
    CHECK(!deserialize(blob.substr(0, cut)));
  }
  // A child count far beyond what the input could hold.
  std::string huge = "PM\x01";
  huge += std::string(4, '\0') + "\x01t\x01s" + std::string(10, '\0');
  huge += "\xFF\xFF\xFF\xFF\x0F";
  CHECK(!deserialize(huge));
}

TEST_CASE("mime codec: nesting deeper than any parser limit is refused") {
  MessagePart root;
  MessagePart* p = &root;
  for (int i = 0; i < 300; ++i) {
    p->children.resize(1);
    p = &p->children.front();
  }
  CHECK(!deserialize(serialize(root)));
}
