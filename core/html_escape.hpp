// Text made safe to place in HTML, for every page or fragment we write: the
// proxy's error pages and WebMail's sanitised mail.
#pragma once

#include <string>
#include <string_view>

namespace postern::core {

// Appends `text` with &, < and > escaped (and " when `quote`, for attribute
// values in double quotes). NUL characters are dropped.
inline void append_html_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += quote ? "&quot;" : "\"";
        break;
      case '\0':
        break;
      default:
        out += c;
    }
  }
}

}  // namespace postern::core
