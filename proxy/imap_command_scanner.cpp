#include "proxy/imap_command_scanner.hpp"

#include <strings.h>

#include <algorithm>
#include <cstring>

namespace postern::proxy {

namespace {

// Enough for "~{18446744073709551615+}" and a CR.
constexpr std::size_t kTail = 32;

bool tag_char(char c) {
  // RFC 3501 tag: ASTRING-CHAR except "+"; we only need to refuse what
  // cannot be in a tag at all.
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' && c != '*' &&
         c != '"' && c != '\\' && c != '+';
}

}  // namespace

namespace {

std::string_view strip_eol(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// "<tag> <name>" and nothing else (name in any case).
bool is_command_line(std::string_view line, std::string_view name, std::string* tag) {
  line = strip_eol(line);
  auto sp = line.find(' ');
  if (sp == 0 || sp == std::string_view::npos) return false;
  std::string_view t = line.substr(0, sp);
  std::string_view n = line.substr(sp + 1);
  if (n.size() != name.size() || strncasecmp(n.data(), name.data(), name.size()) != 0) return false;
  if (!std::all_of(t.begin(), t.end(), tag_char)) return false;
  if (tag != nullptr) *tag = std::string(t);
  return true;
}

}  // namespace

bool is_logout_line(std::string_view line, std::string* tag) {
  return is_command_line(line, "LOGOUT", tag);
}

namespace {

// The literal announced at the end of a line whose content (before LF, CR
// included) ends with `tail` + `end`: its size; -1 for none, -2 for a size
// we cannot count, -3 for a synchronising literal ({n}) when `sync_ok` is
// false. Always the same window, however the line arrived.
std::int64_t literal_announced(const std::string& tail, std::string_view end, bool sync_ok) {
  std::string s = tail;
  s.append(end);
  if (s.size() > kTail) s.erase(0, s.size() - kTail);
  std::string_view v = s;
  if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
  if (v.empty() || v.back() != '}') return -1;
  v.remove_suffix(1);
  const bool nonsync = !v.empty() && v.back() == '+';
  if (nonsync) v.remove_suffix(1);
  std::size_t digits = 0;
  while (digits < v.size() && v[v.size() - 1 - digits] >= '0' && v[v.size() - 1 - digits] <= '9')
    ++digits;
  if (digits == 0) return -1;
  // More digits than any literal we could count (or than the window shows
  // the start of): we cannot follow this client any more.
  if (digits > 18) return -2;
  if (digits == v.size() || v[v.size() - 1 - digits] != '{') return -1;
  if (!nonsync && !sync_ok) return -3;
  std::int64_t n = 0;
  for (char c : v.substr(v.size() - digits)) n = n * 10 + (c - '0');
  return n;
}

// Skips what `data` holds of a literal from `i` on, `left` bytes of it not
// seen yet: whether it ended.
bool skip_literal(std::string_view data, std::size_t& i, std::uint64_t& left) {
  const std::uint64_t k = std::min<std::uint64_t>(left, data.size() - i);
  i += static_cast<std::size_t>(k);
  left -= k;
  return left == 0;
}

// Keeps the last kTail bytes of a line that goes on.
void keep_tail(std::string& tail, std::string_view part) {
  tail.append(part);
  if (tail.size() > kTail) tail.erase(0, tail.size() - kTail);
}

}  // namespace

std::int64_t ImapCommandScanner::literal_at_end(std::string_view end) const {
  // A synchronising literal is sent only after the node's "+": when the
  // node answers BAD or NO instead, the client never sends it, and counting
  // its bytes would misread what follows. Only LITERAL+ can be followed.
  return literal_announced(tail_, end, false);
}

void ImapCommandScanner::end_of_line(std::string_view last_part) {
  const std::int64_t n = literal_at_end(last_part);
  tail_.clear();
  if (n == -2 || n == -3) {
    mode_ = Mode::Lost;
  } else if (n > 0) {
    mode_ = Mode::InLiteral;
    literal_left_ = static_cast<std::uint64_t>(n);
  } else if (n == 0) {
    mode_ = Mode::InLine;  // an empty literal: the command goes on
  } else {
    mode_ = Mode::CommandStart;
    ++commands_;
  }
}

ImapCommandScanner::Result ImapCommandScanner::scan(std::string_view data) {
  Result r;
  std::size_t i = 0;
  while (i < data.size()) {
    switch (mode_) {
      case Mode::Lost:
        i = data.size();
        break;
      case Mode::InLiteral:
        if (skip_literal(data, i, literal_left_)) mode_ = Mode::InLine;
        break;
      case Mode::InLine: {
        const void* nl = std::memchr(data.data() + i, '\n', data.size() - i);
        const std::size_t end =
            nl == nullptr ? data.size()
                          : static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
        std::string_view part = data.substr(i, end - i);
        if (!saw_brace_ && part.find('{') != std::string_view::npos) saw_brace_ = true;
        if (nl == nullptr) {
          keep_tail(tail_, part);
          i = data.size();
          break;
        }
        if (part.size() > kTail) part.remove_prefix(part.size() - kTail);
        end_of_line(part);
        i = end + 1;
        break;
      }
      case Mode::CommandStart: {
        const std::size_t look = std::min(data.size() - i, kMaxLogoutLine);
        const void* nl = std::memchr(data.data() + i, '\n', look);
        if (nl == nullptr) {
          // Too long to be a LOGOUT: an ordinary line. Otherwise wait for
          // the rest of it.
          if (look == kMaxLogoutLine) {
            // Not the DONE that ends an IDLE either: lost.
            mode_ = idle_ ? Mode::Lost : Mode::InLine;
            break;
          }
          r.pass = i;
          return r;
        }
        const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
        std::string_view line = data.substr(i, end + 1 - i);
        if (idle_) {
          // The line that ends an IDLE. A LOGOUT here would end the IDLE
          // (with a BAD), not the session: anything but DONE is lost.
          idle_ = false;
          if (strip_eol(line).size() != 4 || strncasecmp(line.data(), "DONE", 4) != 0) {
            mode_ = Mode::Lost;
            break;
          }
          i = end + 1;
          break;
        }
        if (is_logout_line(line, &r.tag)) {
          r.pass = i;
          r.logout = true;
          r.logout_len = line.size();
          return r;
        }
        if (is_command_line(line, "IDLE", nullptr)) idle_ = true;
        if (line.find('{') != std::string_view::npos) saw_brace_ = true;
        end_of_line(line.substr(0, line.size() - 1));
        i = end + 1;
        break;
      }
    }
  }
  r.pass = data.size();
  return r;
}

ImapAnswerScanner::Result ImapAnswerScanner::scan(std::string_view data) {
  Result out;
  std::size_t at = std::string_view::npos;
  if (line_start_ && data.substr(0, marker_.size()) == marker_) {
    at = 0;
  } else if (auto q = data.find("\n" + marker_); q != std::string_view::npos) {
    at = q + 1;
  }
  if (at != std::string_view::npos) {
    out.pass = at;
    line_start_ = true;  // what is held back starts a line
    auto nl = data.find('\n', at);
    if (nl == std::string_view::npos) return out;  // the rest of the answer is on its way
    std::string_view answer = data.substr(at + marker_.size(), nl - at - marker_.size());
    out.done = true;
    out.answer_len = nl + 1 - at;
    out.ok = answer.substr(0, 2) == "OK" &&
             (answer.size() == 2 || answer[2] == ' ' || answer[2] == '\r');
    out.last = nl + 1 == data.size();
    return out;
  }
  // Not here yet. The end of the data may be the start of the answer: keep
  // it back until the rest comes.
  auto last = data.rfind('\n');
  std::string_view rest = last == std::string_view::npos ? data : data.substr(last + 1);
  const bool may_start = (last != std::string_view::npos || line_start_) &&
                         rest.size() < marker_.size() &&
                         std::string_view(marker_).substr(0, rest.size()) == rest;
  out.pass = may_start ? data.size() - rest.size() : data.size();
  if (out.pass > 0) line_start_ = data[out.pass - 1] == '\n';
  return out;
}

void ImapAnswerCounter::end_of_line(std::string_view last_part) {
  // A server sends synchronising literals ({n}, ~{n}) without waiting.
  const std::int64_t n = literal_announced(tail_, last_part, true);
  tail_.clear();
  if (n == -2) {
    mode_ = Mode::Lost;
  } else if (n > 0) {
    mode_ = Mode::InLiteral;
    literal_left_ = static_cast<std::uint64_t>(n);
  } else if (n == 0) {
    mode_ = Mode::InLine;  // an empty literal: the response goes on
  } else {
    mode_ = Mode::ResponseStart;
  }
}

void ImapAnswerCounter::scan(std::string_view data) {
  std::size_t i = 0;
  while (i < data.size()) {
    switch (mode_) {
      case Mode::Lost:
        return;
      case Mode::InLiteral:
        if (skip_literal(data, i, literal_left_)) mode_ = Mode::InLine;
        break;
      case Mode::ResponseStart:
        if (data[i] == '+') {
          asked_for_data_ = true;
        } else if (data[i] != '*') {
          ++tagged_;
        }
        mode_ = Mode::InLine;
        break;
      case Mode::InLine: {
        const void* nl = std::memchr(data.data() + i, '\n', data.size() - i);
        if (nl == nullptr) {
          keep_tail(tail_, data.substr(i));
          return;
        }
        const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
        std::string_view part = data.substr(i, end - i);
        if (part.size() > kTail) part.remove_prefix(part.size() - kTail);
        end_of_line(part);
        i = end + 1;
        break;
      }
    }
  }
}

}  // namespace postern::proxy
