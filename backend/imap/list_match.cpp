#include "backend/imap/list_match.hpp"

#include <strings.h>

namespace postern::node::imap {

namespace {

bool starts_with_inbox(std::string_view s) {
  return s.size() >= 5 && strncasecmp(s.data(), "INBOX", 5) == 0 &&
         (s.size() == 5 || s[5] == kDelimiter);
}

// Iterative wildcard match with one back-tracking point per '*' and per '%'
// (the latter may not cross a delimiter), so a hostile pattern such as
// "%*%*%*...x" costs O(pattern x name), never exponential time.
bool match(std::string_view p, std::string_view n) {
  // dp[j]: pattern prefix matches name prefix of length j.
  std::string dp(n.size() + 1, '\0');
  std::string next(n.size() + 1, '\0');
  dp[0] = 1;
  for (char pc : p) {
    next.assign(n.size() + 1, '\0');
    if (pc == '*') {
      char any = 0;
      for (std::size_t j = 0; j <= n.size(); ++j) {
        any = any || dp[j];
        next[j] = any;
      }
    } else if (pc == '%') {
      char any = 0;
      for (std::size_t j = 0; j <= n.size(); ++j) {
        if (j > 0 && n[j - 1] == kDelimiter) any = 0;
        any = any || dp[j];
        next[j] = any;
      }
    } else {
      for (std::size_t j = 1; j <= n.size(); ++j) next[j] = dp[j - 1] && n[j - 1] == pc;
    }
    dp.swap(next);
  }
  return dp[n.size()] != 0;
}

}  // namespace

bool list_match(std::string_view pattern, std::string_view name) {
  if (starts_with_inbox(name)) {
    // Compare the INBOX part case-insensitively by canonicalising both.
    std::string canon_name = "INBOX" + std::string(name.substr(5));
    std::string canon_pattern(pattern);
    if (starts_with_inbox(pattern) ||
        (pattern.size() == 5 && strncasecmp(pattern.data(), "INBOX", 5) == 0)) {
      canon_pattern = "INBOX" + std::string(pattern.substr(5));
    }
    return match(canon_pattern, canon_name);
  }
  return match(pattern, name);
}

std::string list_combine(std::string_view reference, std::string_view pattern) {
  if (!pattern.empty() && pattern.front() == kDelimiter) return std::string(pattern.substr(1));
  return std::string(reference) + std::string(pattern);
}

}  // namespace postern::node::imap
