#include "backend/queue/dsn.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace postern::node::queue {

namespace {

// Header values quote text from the network (replies, addresses): control
// bytes would break the header, and a line must stay under RFC 5322's 998.
std::string header_safe(std::string_view text, std::size_t max = 900) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) break;
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return out;
}

bool has_word(std::string_view list, std::string_view word) {
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    if (item.size() == word.size()) {
      bool same = true;
      for (std::size_t i = 0; i < item.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(item[i])) != word[i]) same = false;
      }
      if (same) return true;
    }
    start = end + 1;
  }
  return false;
}

// RFC 3461 4.2: ORCPT is "addr-type;xtext"; "+XX" stands for a byte.
std::string xtext_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+' && i + 2 < text.size() &&
        std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string_view action_name(DsnAction action) {
  return action == DsnAction::Failed ? "failed" : "delivered";
}

std::string human_part(const DsnReport& r) {
  bool any_failed = false;
  for (const auto& e : r.entries) any_failed |= e.action == DsnAction::Failed;
  std::string text = fmt::format(
      "This is the mail system at host {}.\r\n\r\n"
      "{}\r\n\r\n",
      r.reporting_mta,
      any_failed ? "Your message could not be delivered to one or more recipients. It is "
                   "attached below.\r\nThe mail system said:"
                 : "Your message was delivered to the following recipients:");
  for (const auto& e : r.entries) {
    text += fmt::format("<{}>: {}\r\n", header_safe(e.recipient.address),
                        e.action == DsnAction::Failed ? header_safe(e.recipient.last_reply)
                                                      : std::string("delivered"));
  }
  return text;
}

std::string status_part(const DsnReport& r) {
  // Per-message fields, then one block per recipient (RFC 3464 2.2, 2.3).
  std::string text = fmt::format("Reporting-MTA: dns; {}\r\n", header_safe(r.reporting_mta));
  text += fmt::format("X-Postern-Queue-ID: {}\r\n", r.queue_id);
  if (!r.envelope.envid.empty())
    text +=
        fmt::format("Original-Envelope-Id: {}\r\n", header_safe(xtext_decode(r.envelope.envid)));
  if (r.envelope.arrival != 0)
    text += fmt::format("Arrival-Date: {}\r\n", rfc5322_date(r.envelope.arrival));
  for (const auto& e : r.entries) {
    const Recipient& rcpt = e.recipient;
    text += "\r\n";
    if (!rcpt.orcpt.empty()) {
      std::string orcpt = xtext_decode(rcpt.orcpt);
      if (orcpt.find(';') != std::string::npos)
        text += fmt::format("Original-Recipient: {}\r\n", header_safe(orcpt));
    }
    text += fmt::format("Final-Recipient: rfc822; {}\r\n", header_safe(rcpt.address));
    text += fmt::format("Action: {}\r\n", action_name(e.action));
    text += fmt::format("Status: {}\r\n", dsn_status(rcpt.last_reply, e.action));
    if (!rcpt.remote_mta.empty())
      text += fmt::format("Remote-MTA: dns; {}\r\n", header_safe(rcpt.remote_mta));
    if (!rcpt.last_reply.empty() && e.action == DsnAction::Failed)
      text += fmt::format("Diagnostic-Code: smtp; {}\r\n", header_safe(rcpt.last_reply));
    text += fmt::format("Last-Attempt-Date: {}\r\n", rfc5322_date(r.now));
  }
  return text;
}

}  // namespace

bool wants_dsn(const Recipient& recipient, DsnAction action) {
  if (recipient.notify.empty()) return action == DsnAction::Failed;
  if (has_word(recipient.notify, "NEVER")) return false;
  return has_word(recipient.notify, action == DsnAction::Failed ? "FAILURE" : "SUCCESS");
}

std::string dsn_status(std::string_view reply, DsnAction action) {
  if (action == DsnAction::Delivered) return "2.0.0";
  std::string status;
  // "550 5.1.1 text" or "550-5.1.1 text": the enhanced code follows the basic one.
  if (reply.size() >= 9 && (reply[3] == ' ' || reply[3] == '-')) {
    std::string_view rest = reply.substr(4);
    std::size_t end = rest.find(' ');
    std::string_view code = rest.substr(0, end);
    bool shaped =
        code.size() >= 5 && (code[0] == '2' || code[0] == '4' || code[0] == '5') && code[1] == '.';
    for (char c : code) shaped &= std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.';
    if (shaped && std::count(code.begin(), code.end(), '.') == 2) status = code;
  }
  if (status.empty()) status = !reply.empty() && reply[0] == '4' ? "4.0.0" : "5.0.0";
  if (status[0] != '5') status[0] = '5';  // failed for good (RFC 3464 2.3.3)
  return status;
}

std::string_view message_header(std::string_view message) {
  std::size_t end = message.find("\r\n\r\n");
  if (end != std::string_view::npos) return message.substr(0, end + 4);
  end = message.find("\n\n");
  if (end != std::string_view::npos) return message.substr(0, end + 2);
  return message;
}

std::string rfc5322_date(std::int64_t unix_seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string compose_dsn(const DsnReport& r) {
  bool any_failed = false;
  for (const auto& e : r.entries) any_failed |= e.action == DsnAction::Failed;
  const std::string& b = r.boundary;
  std::string m;
  m += fmt::format("From: Mail Delivery System <{}>\r\n", header_safe(r.postmaster));
  m += fmt::format("To: <{}>\r\n", header_safe(r.envelope.sender));
  m += fmt::format("Subject: {}\r\n", any_failed ? "Undelivered Mail Returned to Sender"
                                                 : "Successful Mail Delivery Report");
  m += fmt::format("Date: {}\r\n", rfc5322_date(r.now));
  m += fmt::format("Message-ID: <{}.{}@{}>\r\n", r.queue_id, b, header_safe(r.reporting_mta));
  // RFC 3834: no auto-responder answers this; RFC 3464 says the same of DSNs.
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += fmt::format(
      "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{}\"\r\n", b);
  m += "\r\nThis is a MIME-encapsulated delivery status notification.\r\n";
  m += fmt::format("\r\n--{}\r\n", b);
  m += "Content-Type: text/plain; charset=us-ascii\r\nContent-Description: Notification\r\n\r\n";
  m += human_part(r);
  m += fmt::format("\r\n--{}\r\n", b);
  m += "Content-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n";
  m += status_part(r);
  m += fmt::format("\r\n--{}\r\n", b);
  if (r.headers_only) {
    m += "Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered Message "
         "Headers\r\n\r\n";
  } else {
    m += "Content-Type: message/rfc822\r\nContent-Description: Undelivered Message\r\n\r\n";
  }
  m += r.original;
  if (!r.original.empty() && r.original.back() != '\n') m += "\r\n";
  m += fmt::format("\r\n--{}--\r\n", b);
  return m;
}

}  // namespace postern::node::queue
