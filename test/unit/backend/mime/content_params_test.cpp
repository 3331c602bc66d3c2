// Content-Type / Content-Disposition parameters. The RFC 2231 results were
// checked with Python 3 (email.message.get_param + utils.collapse_rfc2231_value).
#include "backend/mime/content_params.hpp"

#include <doctest/doctest.h>

using postern::node::mime::Params;
using postern::node::mime::parse_content_disposition;
using postern::node::mime::parse_content_type;
using postern::node::mime::parse_language_list;
using postern::node::mime::parse_mime_token;
using postern::node::mime::parse_parameters;

TEST_CASE("mime content-type: type, subtype and parameters") {
  auto ct = parse_content_type("Text/HTML; Charset=\"UTF-8\"; format=flowed");
  REQUIRE(ct);
  CHECK(ct->type == "text");
  CHECK(ct->subtype == "html");
  CHECK(ct->params == Params{{"charset", "UTF-8"}, {"format", "flowed"}});
}

TEST_CASE("mime content-type: comments, blanks and quoting") {
  auto ct = parse_content_type(
      " (lead) multipart / mixed (c) ; boundary=\"foo bar\" ; (x) a=\"q\\\"s\\\\\" ");
  REQUIRE(ct);
  CHECK(ct->type == "multipart");
  CHECK(ct->subtype == "mixed");
  CHECK(ct->params == Params{{"boundary", "foo bar"}, {"a", "q\"s\\"}});

  ct = parse_content_type("text/plain; charset=us-ascii (Plain text)");
  REQUIRE(ct);
  CHECK(ct->params == Params{{"charset", "us-ascii"}});
}

TEST_CASE("mime content-type: what real mailers get wrong is tolerated") {
  // Unquoted values with tspecials or blanks, empty parameters, a missing '='.
  auto ct =
      parse_content_type("multipart/mixed;; boundary=----=_Part_1.2; name=my file.pdf; junk; x=1;");
  REQUIRE(ct);
  CHECK(ct->params == Params{{"boundary", "----=_Part_1.2"}, {"name", "my file.pdf"}, {"x", "1"}});

  // The first occurrence of a parameter wins; an unterminated quote runs to the end.
  ct = parse_content_type("text/plain; charset=a; CHARSET=b; name=\"open");
  REQUIRE(ct);
  CHECK(ct->params == Params{{"charset", "a"}, {"name", "open"}});
}

TEST_CASE("mime content-type: without type/subtype there is none") {
  CHECK(!parse_content_type(""));
  CHECK(!parse_content_type("text"));
  CHECK(!parse_content_type("text/"));
  CHECK(!parse_content_type("/plain"));
  CHECK(!parse_content_type("(only a comment)"));
}

TEST_CASE("mime rfc2231: continuations and charsets (RFC 2231 examples)") {
  CHECK(parse_parameters("; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A") ==
        Params{{"title", "This is ***fun***"}});
  CHECK(parse_parameters("; access-type=URL; title*0*=us-ascii'en'This%20is%20even%20more%20; "
                         "title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"") ==
        Params{{"access-type", "URL"}, {"title", "This is even more ***fun*** isn't it!"}});
}

TEST_CASE("mime rfc2231: values are converted to UTF-8") {
  CHECK(parse_parameters("; filename*0*=utf-8''%E2%82%AC%20rate; filename*1=\".png\"") ==
        Params{{"filename", "\u20ac rate.png"}});
  CHECK(parse_parameters("; name*=iso-8859-1''caf%E9") == Params{{"name", "caf\u00e9"}});
  CHECK(parse_parameters("; name*0*=windows-1252''%80; name*1*=%20%93x%94") ==
        Params{{"name", "\u20ac \u201cx\u201d"}});
}

TEST_CASE("mime rfc2231: order, gaps, and plain values") {
  CHECK(parse_parameters("; name*1=\"b\"; name*0=\"a\"") == Params{{"name", "ab"}});
  CHECK(parse_parameters("; name*0=a; name*2=c") == Params{{"name", "a"}});  // a gap ends it
  CHECK(parse_parameters("; name=plain.txt; name*=utf-8''ext.txt") == Params{{"name", "ext.txt"}});
  CHECK(parse_parameters("; name*1=orphan") == Params{});  // no section 0: nothing
  CHECK(parse_parameters("; name*=x-unknown''a%FFb") == Params{{"name",
                                                                "a\xFF"
                                                                "b"}});
  CHECK(parse_parameters("; name*=no-quotes%41") == Params{{"name", "no-quotesA"}});
}

TEST_CASE("mime content-disposition") {
  auto cd = parse_content_disposition("Attachment; filename=\"a b.pdf\"; size=12");
  REQUIRE(cd);
  CHECK(cd->type == "attachment");
  CHECK(cd->params == Params{{"filename", "a b.pdf"}, {"size", "12"}});
  CHECK(!parse_content_disposition("; filename=x"));
}

TEST_CASE("mime content-transfer-encoding and content-language") {
  CHECK(parse_mime_token(" Base64 (comment)") == "base64");
  CHECK(!parse_mime_token("?invalid"));
  CHECK(!parse_mime_token(""));
  CHECK(parse_language_list("en, de-CH (Swiss), fr") ==
        std::vector<std::string>{"en", "de-CH", "fr"});
  CHECK(parse_language_list("").empty());
}
