// A small, tolerant HTML tokenizer for the sanitiser (html_sanitizer.hpp). It
// follows the HTML5 tokenizer where that matters for what a page shows (short
// comments "<!-->", raw-text and RCDATA elements, attributes with and without
// quotes, character references) but builds no tree. The sanitiser never emits
// what it read: it re-serialises allowed tokens, so a difference between this
// tokenizer and a browser's can change how a message looks, never make it run.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postern::node::webmail {

struct HtmlAttribute {
  std::string name;   // lower-case
  std::string value;  // character references decoded
};

struct HtmlToken {
  enum class Kind { Text, StartTag, EndTag };
  Kind kind = Kind::Text;
  std::string name;  // tag name, lower-case (tags only)
  // The first occurrence of each name only, and only the first
  // HtmlTokenizer::kMaxAttributes names of a tag: the rest are skipped.
  std::vector<HtmlAttribute> attributes;
  bool self_closing = false;
  // Text: decoded text. After the start tag of a raw-text or RCDATA element
  // (script, style, title, textarea, xmp, iframe, noembed, noframes,
  // plaintext) the next token is its whole content as one Text token with
  // `raw` set and `raw_element` naming the element (decoded for title and
  // textarea only, as browsers do).
  std::string text;
  bool raw = false;
  std::string raw_element;
};

class HtmlTokenizer {
 public:
  // More than any real tag carries; bounds the duplicate check per attribute.
  static constexpr std::size_t kMaxAttributes = 64;

  explicit HtmlTokenizer(std::string_view input) : in_(input) {}

  // The next token; false at the end of the input. Comments, doctypes and
  // processing instructions are skipped; CDATA sections come out as text.
  bool next(HtmlToken& token);

 private:
  bool read_tag(HtmlToken& token);
  bool read_markup_declaration();
  void read_attributes(HtmlToken& token);
  void read_raw_text(HtmlToken& token);

  std::string_view in_;
  std::size_t pos_ = 0;
  std::string pending_raw_;  // element whose raw content comes next
};

// Decodes the character references in `text` (named, decimal, hex).
// `in_attribute`: a legacy reference without ';' followed by an alphanumeric
// or '=' is left as written (HTML5 section 13.2.5.73).
std::string decode_html_entities(std::string_view text, bool in_attribute);

}  // namespace postern::node::webmail
