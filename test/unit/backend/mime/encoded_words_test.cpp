// RFC 2047 decoding and charset conversion. Every expected UTF-8 result was
// produced by Python 3's email package (email.header.decode_header +
// make_header, and policy.default for the invalid-byte case) on the same input.
#include "backend/mime/encoded_words.hpp"

#include <doctest/doctest.h>

#include <string>

#include "backend/mime/charset.hpp"

using postern::node::mime::append_valid_utf8;
using postern::node::mime::charset_to_utf8;
using postern::node::mime::decode_base64;
using postern::node::mime::decode_encoded_words;

TEST_CASE("mime rfc2047: Q and B words in common charsets") {
  CHECK(decode_encoded_words("=?ISO-8859-1?Q?Andr=E9?= Pirard") == "Andr\u00e9 Pirard");
  CHECK(decode_encoded_words("=?utf-8?q?Gr=C3=BC=C3=9Fe?= =?utf-8?q?_aus_K=C3=B6ln?=") ==
        "Gr\u00fc\u00dfe aus K\u00f6ln");
  CHECK(decode_encoded_words("=?utf-8?B?SsO2cmc=?=") == "J\u00f6rg");
  CHECK(decode_encoded_words("=?windows-1252?Q?=80_=93quoted=94?=") == "\u20ac \u201cquoted\u201d");
  CHECK(decode_encoded_words("=?iso-8859-15?q?=A4?=") == "\u20ac");
  CHECK(decode_encoded_words("Re: =?UTF-8?Q?caf=C3=A9?= ok") == "Re: caf\u00e9 ok");
}

TEST_CASE("mime rfc2047: the examples of RFC 2047 section 8") {
  CHECK(decode_encoded_words("(=?ISO-8859-1?Q?a?=)") == "(a)");
  CHECK(decode_encoded_words("(=?ISO-8859-1?Q?a?= b)") == "(a b)");
  CHECK(decode_encoded_words("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)") == "(ab)");
  CHECK(decode_encoded_words("(=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?=)") == "(ab)");
  CHECK(decode_encoded_words("(=?ISO-8859-1?Q?a_b?=)") == "(a b)");
  CHECK(decode_encoded_words("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)") == "(a b)");
}

TEST_CASE("mime rfc2047: a character split across two words survives") {
  CHECK(decode_encoded_words("=?utf-8?B?4oI=?= =?utf-8?B?rA==?=") == "\u20ac");
}

TEST_CASE("mime rfc2047: charsets beyond the built-in tables go through iconv") {
  CHECK(decode_encoded_words("=?koi8-r?B?8NLJ18XU?=") == "\u041f\u0440\u0438\u0432\u0435\u0442");
}

TEST_CASE("mime rfc2047: invalid bytes in the charset become U+FFFD") {
  CHECK(decode_encoded_words("=?utf-8?q?a=FFb?=") == "a\ufffdb");
  CHECK(decode_encoded_words("=?us-ascii?q?a=E9?=") == "a\ufffd");
}

TEST_CASE("mime rfc2047: what is not a valid encoded word is kept as written") {
  CHECK(decode_encoded_words("=?x-no-such-charset?q?abc?=") == "=?x-no-such-charset?q?abc?=");
  CHECK(decode_encoded_words("=?utf-8?B?###?=") == "=?utf-8?B?###?=");
  CHECK(decode_encoded_words("=?utf-8?x?abc?=") == "=?utf-8?x?abc?=");
  CHECK(decode_encoded_words("=?utf-8?q?has space?=") == "=?utf-8?q?has space?=");
  CHECK(decode_encoded_words("=?utf-8?q?unterminated") == "=?utf-8?q?unterminated");
  CHECK(decode_encoded_words("a =? b ?= c") == "a =? b ?= c");
  CHECK(decode_encoded_words("") == "");
}

TEST_CASE("mime rfc2047: text around words, raw 8-bit bytes and language suffixes") {
  CHECK(decode_encoded_words("caf\xE9 =?utf-8?q?ok?=") == "caf\xE9 ok");
  CHECK(decode_encoded_words("=?UTF-8*en?b?SGk=?=") == "Hi");  // RFC 2231 section 5
  CHECK(decode_encoded_words("x=?utf-8?q?y?=z") == "xyz");     // glued to text, as mailers do
  // An unknown charset between two known ones keeps its own text only.
  CHECK(decode_encoded_words("=?utf-8?q?a?= =?x-bad?q?b?= =?utf-8?q?c?=") == "a=?x-bad?q?b?= c");
}

TEST_CASE("mime charset: hand-written tables") {
  CHECK(charset_to_utf8("ISO-8859-1", "\xE9\xFF") == "\u00e9\u00ff");
  CHECK(charset_to_utf8("latin9", "\xA4\xBC\xBD\xBE") == "\u20ac\u0152\u0153\u0178");
  CHECK(charset_to_utf8("cp1252", "\x80\x81\x9F") == "\u20ac\ufffd\u0178");
  CHECK(charset_to_utf8("US-ASCII", "plain") == "plain");
  CHECK(!charset_to_utf8("no-such-charset", "x"));
  CHECK(!charset_to_utf8("UTF-8//TRANSLIT", "x"));  // never handed to iconv
}

TEST_CASE("mime charset: UTF-8 validation replaces maximal ill-formed subparts") {
  std::string out;
  append_valid_utf8(out, "ok \xE2\x82 x \xED\xA0\x80 \xF4\x90\x80\x80 \xC0\xAF");
  // Python: b'ok \xe2\x82 x \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf'.decode('utf-8','replace')
  CHECK(out == "ok \ufffd x \ufffd\ufffd\ufffd \ufffd\ufffd\ufffd\ufffd \ufffd\ufffd");
}

TEST_CASE("mime base64: padding and alphabet") {
  std::string out;
  CHECK(decode_base64("SGk=", out));
  CHECK(out == "Hi");
  out.clear();
  CHECK(decode_base64("SGk", out));  // missing padding is tolerated
  CHECK(out == "Hi");
  out.clear();
  CHECK(!decode_base64("SG=k", out));
  CHECK(!decode_base64("S$k=", out));
}
