#include "backend/imap/transfer_decoder.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace postern::node::imap;

namespace {

// Decodes `in` whole, then cut at every position into two and into 1-byte
// pieces, and checks that the result does not depend on the cuts.
std::string decode(TransferEncoding encoding, const std::string& in) {
  std::string whole;
  TransferDecoder decoder(encoding);
  decoder.feed(in, whole);
  decoder.finish(whole);
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    std::string split;
    decoder.feed(std::string_view(in).substr(0, cut), split);
    decoder.feed(std::string_view(in).substr(cut), split);
    decoder.finish(split);
    CAPTURE(cut);
    CHECK(split == whole);
  }
  std::string bytes;
  for (char c : in) decoder.feed(std::string_view(&c, 1), bytes);
  decoder.finish(bytes);
  CHECK(bytes == whole);
  return whole;
}

}  // namespace

TEST_CASE("imap transfer decoding: encoding names") {
  CHECK(transfer_encoding("7bit") == TransferEncoding::Identity);
  CHECK(transfer_encoding("8bit") == TransferEncoding::Identity);
  CHECK(transfer_encoding("binary") == TransferEncoding::Identity);
  CHECK(transfer_encoding("") == TransferEncoding::Identity);
  CHECK(transfer_encoding("base64") == TransferEncoding::Base64);
  CHECK(transfer_encoding("quoted-printable") == TransferEncoding::QuotedPrintable);
  CHECK_FALSE(transfer_encoding("x-uuencode").has_value());
}

TEST_CASE("imap transfer decoding: base64 across lines, with padding and junk") {
  CHECK(decode(TransferEncoding::Base64, "SGVsbG8s\r\nIHdvcmxk\r\nIQ==\r\n") == "Hello, world!");
  CHECK(decode(TransferEncoding::Base64, "AAECAwQ=") == std::string("\0\1\2\3\4", 5));
  CHECK(decode(TransferEncoding::Base64, "QUJD") == "ABC");
  CHECK(decode(TransferEncoding::Base64, "QUI") == "AB");  // padding missing
  CHECK(decode(TransferEncoding::Base64, "Q") == "");      // a lone sextet is no byte
  CHECK(decode(TransferEncoding::Base64, "Q U\tJ*D") == "ABC");
  // Two encodings glued together, as some mailers write them.
  CHECK(decode(TransferEncoding::Base64, "QQ==QkM=") == "ABC");
  CHECK(decode(TransferEncoding::Base64, "") == "");
}

TEST_CASE("imap transfer decoding: quoted-printable") {
  CHECK(decode(TransferEncoding::QuotedPrintable, "caf=C3=A9 =\r\nok") == "caf\xC3\xA9 ok");
  CHECK(decode(TransferEncoding::QuotedPrintable, "a=3Db=3db") == "a=b=b");
  // Trailing blanks are padding; soft breaks may have blanks after the '='.
  CHECK(decode(TransferEncoding::QuotedPrintable, "line one  \r\nline two\t\r\n") ==
        "line one\r\nline two\r\n");
  CHECK(decode(TransferEncoding::QuotedPrintable, "soft= \t\r\nbreak") == "softbreak");
  CHECK(decode(TransferEncoding::QuotedPrintable, "soft=\nbreak\nlf") == "softbreak\r\nlf");
  // Malformed escapes stay as written.
  CHECK(decode(TransferEncoding::QuotedPrintable, "a=ZZb=4") == "a=ZZb=4");
  CHECK(decode(TransferEncoding::QuotedPrintable, "x= y") == "x=y");
  CHECK(decode(TransferEncoding::QuotedPrintable, "end=") == "end=");
  CHECK(decode(TransferEncoding::QuotedPrintable, "a\rb") == "a\rb");
  CHECK(decode(TransferEncoding::QuotedPrintable, "tail  ") == "tail");
  CHECK(decode(TransferEncoding::QuotedPrintable, "in  side") == "in  side");
}

TEST_CASE("imap transfer decoding: identity copies") {
  CHECK(decode(TransferEncoding::Identity, std::string("a\0b\r\n", 5)) ==
        std::string("a\0b\r\n", 5));
}
