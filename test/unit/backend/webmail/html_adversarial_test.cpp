// The sanitiser, the tokenizer under it and the composer's HTML-to-text
// quoting on each input shape that makes a naive HTML parser superlinear.
// Mail may be 50 MB, and one message must not hold a worker for minutes.
// doctest has no timeout: the sizes are chosen so that a quadratic path takes
// far longer than the linear one (minutes for the attribute list, which was
// quadratic) while each test case stays under a second or so in the
// unoptimised AddressSanitizer build.
#include <doctest/doctest.h>

#include <string>

#include "backend/webmail/html_sanitizer.hpp"
#include "backend/webmail/html_tokenizer.hpp"
#include "backend/webmail/message_composer.hpp"
#include "backend/webmail/message_view.hpp"

using postern::node::webmail::HtmlToken;
using postern::node::webmail::HtmlTokenizer;
using postern::node::webmail::MessageView;
using postern::node::webmail::quote_body;
using postern::node::webmail::sanitize_html;

namespace {

// Of each shape, 256 KiB (some 60,000 tags or references: billions of steps
// if quadratic) in the optimised build; 32 KiB in the unoptimised
// AddressSanitizer one (scripts/test's asan tier), some hundred times slower
// per byte, where that still makes a quadratic path stand out.
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kSize = 1 << 18;
#else
constexpr std::size_t kSize = 1 << 15;
#endif

// `unit` repeated to about `size` bytes, between `head` and `tail`.
std::string repeat(std::string_view head, std::string_view unit, std::string_view tail = {},
                   std::size_t size = kSize) {
  std::string s(head);
  s.reserve(size + head.size() + tail.size() + unit.size());
  while (s.size() < size) s += unit;
  s += tail;
  return s;
}

// `<p a0 a1 a2 ...>`, every attribute name distinct, to about `size` bytes.
std::string distinct_attributes(std::string_view element, std::size_t size) {
  std::string s = "<" + std::string(element);
  for (std::size_t n = 0; s.size() < size; ++n) s += " a" + std::to_string(n);
  s += " title=\"late\">text</" + std::string(element) + ">";
  return s;
}

// Sanitised (and, unless `quote` is false, turned to quoted text): it must
// finish, and the output grows at most by re-escaping ("&" becomes "&amp;").
void digest(const std::string& html, bool quote = true) {
  const std::string out = sanitize_html(html).html;
  CHECK(out.size() <= 5 * html.size() + 4096);
  if (!quote) return;
  MessageView v;
  v.html = html;
  const std::string quoted = quote_body(v);
  CHECK(quoted.size() <= 2 * html.size() + 4096);
}

}  // namespace

TEST_CASE("sanitizer: a tag with a hundred thousand attributes keeps the first 64") {
  // 1 MiB, 140,000 names: 3 s at 269 KB, and minutes here, when each name was
  // checked against all those before it.
  const std::string html = distinct_attributes("p", 1 << 20);
  HtmlTokenizer tokenizer(html);
  HtmlToken token;
  REQUIRE(tokenizer.next(token));
  CHECK(token.kind == HtmlToken::Kind::StartTag);
  CHECK(token.name == "p");
  REQUIRE(token.attributes.size() == 64);
  CHECK(token.attributes.front().name == "a0");
  CHECK(token.attributes.back().name == "a63");
  // The attributes past the cap are skipped, the tag still ends at its '>'.
  REQUIRE(tokenizer.next(token));
  CHECK(token.kind == HtmlToken::Kind::Text);
  CHECK(token.text == "text");
  REQUIRE(tokenizer.next(token));
  CHECK(token.kind == HtmlToken::Kind::EndTag);
  CHECK_FALSE(tokenizer.next(token));
  CHECK(sanitize_html(html).html == "<p>text</p>");
  digest(distinct_attributes("a", kSize));
  digest(distinct_attributes("img", kSize));
  // Quoted values past the cap may hold '>': skipping still honours quotes.
  std::string quoted = "<td";
  for (std::size_t n = 0; quoted.size() < kSize; ++n) {
    quoted += " a" + std::to_string(n) + "='>&amp;'";
  }
  quoted += " title=\"x\">cell</td>";
  CHECK(sanitize_html(quoted).html == "<td>cell</td>");
  digest(repeat("<p", " title=x", ">t</p>"));  // the same name over and over
}

TEST_CASE("sanitizer: deep nesting and stray end tags take linear time") {
  // The sanitiser's open-element stack; the quoted text keeps none.
  digest(repeat("", "<div>", "x"));
  digest(repeat("", "<table><tr><td>", "x"), false);
  digest(repeat("", "<ul><li>", "x"), false);
  digest(repeat("", "<svg>", "x"), false);  // dropped content, counted depth
  // The open-element stack searched for every end tag must not make this
  // (open elements) x (end tags).
  digest(repeat("", "<b>") + repeat("", "</i>"), false);
  digest(repeat("<p><table><td>", "<span>") + repeat("", "</p>"), false);
  // Each <div> implies </p>, which the cell stops.
  digest(repeat("<p><table><td>", "<span>") + repeat("", "<div>"), false);
  digest(repeat("", "<p>"), false);
}

TEST_CASE("sanitizer: long attribute values and many references take linear time") {
  digest(repeat("<a href=\"https://example.com/", "x", "\">l</a>"));
  digest(repeat("<img src=\"data:image/png;base64,", "AAAA", "\">"));
  digest(repeat("<p style=\"", "color: red; ", "\">s</p>"));
  digest(repeat("<p style=\"", "color:rgb(", "\">s</p>"));
  digest(repeat("<p style=\"", "/*", "\">s</p>"));
  digest(repeat("<p title=\"", "&amp;", "\">s</p>"));
  digest(repeat("<p title=\"", "x", ""));  // never closed
  digest(repeat("", "&amp;"));
  digest(repeat("", "&zzzzzzzz;"));
  digest(repeat("", "&#x41;"));
  digest(repeat("", "&#"));
  digest(repeat("", "&nbsp"));
  digest(repeat("&#", "9"));
}

TEST_CASE("sanitizer: markup that never ends takes linear time") {
  digest(repeat("", "<!--x"));
  digest(repeat("", "<!x"));
  digest(repeat("", "<![CDATA["));
  digest(repeat("", "</ x"));
  digest(repeat("", "<a"));
  digest(repeat("", "< "));
  digest(repeat("", "<p a='"));
  digest(repeat("<script>", "</scrip"));
  digest(repeat("", "<title></titl"));
  digest(repeat("", "<xmp>x</xmp>"));
  digest(repeat("", "<br>"));
}
