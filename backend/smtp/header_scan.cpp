#include "backend/smtp/header_scan.hpp"

namespace postern::node::smtp {

namespace {
constexpr std::string_view kName = "received";

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
}  // namespace

void HeaderScanner::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (done_) return;
    if (c == '\n') {
      // A line ends. Empty (nothing, or only the CR) ends the header section.
      if (line_start_ || pending_cr_) {
        done_ = true;
        return;
      }
      line_start_ = true;
      matching_ = false;
      continue;
    }
    if (line_start_) {
      line_start_ = false;
      if (c == '\r') {
        pending_cr_ = true;
        continue;
      }
      pending_cr_ = false;
      // A continuation line (starting with WSP) belongs to the previous field.
      matching_ = c != ' ' && c != '\t';
      matched_ = 0;
      if (!matching_) continue;
    } else if (pending_cr_) {
      // "\r" then something other than LF at line start: an ordinary line.
      pending_cr_ = false;
      matching_ = false;
    }
    if (!matching_) continue;
    if (matched_ < kName.size()) {
      if (lower(c) == kName[matched_]) {
        ++matched_;
      } else {
        matching_ = false;
      }
    } else if (c == ' ' || c == '\t') {
      // obs-syntax (RFC 5322 4.5.4): spaces before the colon
    } else if (c == ':') {
      ++received_;
      matching_ = false;
    } else {
      matching_ = false;  // "Received-SPF:", "ReceivedX:"
    }
  }
}

}  // namespace postern::node::smtp
