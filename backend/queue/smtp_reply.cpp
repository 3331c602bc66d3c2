#include "backend/queue/smtp_reply.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace postern::node::queue {

namespace {

// Server text ends up in logs and DSNs: printable ASCII only (RFC 5321
// replies are ASCII; anything else is replaced, never copied raw).
std::string sanitise(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto u = static_cast<unsigned char>(ch);
    out += (u >= 0x20 && u < 0x7f) || ch == '\t' ? ch : '?';
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

}  // namespace

std::string SmtpReply::to_string() const {
  std::string out = std::to_string(code);
  for (const auto& line : lines) {
    if (!line.empty()) out += ' ' + line;
  }
  return out;
}

ReplyEvent ReplyParser::feed(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char ch = bytes[i];
    if (ch == '\n') return line_done(i + 1);
    if (line_.size() >= limits_.max_line) {
      too_long_ = true;
      continue;  // counted off, never stored
    }
    line_ += ch;
  }
  return ReplyEvent{ReplyStatus::NeedMore, bytes.size(), {}, {}};
}

ReplyEvent ReplyParser::line_done(std::size_t consumed) {
  ReplyEvent ev;
  ev.consumed = consumed;
  std::string line = std::move(line_);
  line_.clear();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto fail = [&](std::string why) {
    ev.status = ReplyStatus::Error;
    ev.error = std::move(why);
    current_ = {};
    return ev;
  };
  if (too_long_) return fail("reply line too long");
  // "NNN" then SP, "-" or the end of the line (a bare code is tolerated).
  int code = 0;
  bool digits = line.size() >= 3 && std::all_of(line.begin(), line.begin() + 3,
                                                [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || line[0] < '1' || line[0] > '5' ||
      (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    return fail("not an SMTP reply: \"" + sanitise(line.substr(0, 60)) + "\"");
  }
  std::from_chars(line.data(), line.data() + 3, code);
  bool more = line.size() > 3 && line[3] == '-';
  // RFC 5321 4.2.1: every line carries the same code; the first one counts.
  if (current_.lines.empty()) current_.code = code;
  if (current_.lines.size() >= limits_.max_lines) return fail("reply has too many lines");
  current_.lines.push_back(sanitise(line.size() > 4 ? std::string_view(line).substr(4) : ""));
  if (more) {
    ev.status = ReplyStatus::NeedMore;
    return ev;
  }
  ev.status = ReplyStatus::Reply;
  ev.reply = std::move(current_);
  current_ = {};
  return ev;
}

SmtpExtensions parse_ehlo(const SmtpReply& reply) {
  SmtpExtensions ext;
  // The first line is the server's greeting name, not a keyword.
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view line = reply.lines[i];
    auto sp = line.find(' ');
    std::string keyword = upper(line.substr(0, sp));
    std::string_view arg = sp == std::string_view::npos ? "" : line.substr(sp + 1);
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "SIZE") {
      ext.size = true;
      std::from_chars(arg.data(), arg.data() + arg.size(), ext.max_size);
    } else if (keyword == "8BITMIME") {
      ext.eight_bit_mime = true;
    } else if (keyword == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (keyword == "DSN") {
      ext.dsn = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      ext.enhanced_status_codes = true;
    }
  }
  return ext;
}

}  // namespace postern::node::queue
