#include "backend/smtp/received_header.hpp"

#include <fmt/format.h>

#include <array>

namespace postern::node::smtp {

std::string rfc5322_date(std::time_t when) {
  std::tm tm{};
  gmtime_r(&when, &tm);
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays[tm.tm_wday % 7], tm.tm_mday,
                     kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

namespace {
// The HELO argument is the client's text: keep only what a header can carry.
std::string printable(const std::string& s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 32 && u < 127 && c != '(' && c != ')' && c != ';') out.push_back(c);
  }
  return out.empty() ? std::string("unknown") : out;
}
}  // namespace

std::string received_header(const ReceivedInfo& info) {
  std::string with = info.esmtp ? "ESMTP" : "SMTP";
  if (info.esmtp && info.tls) with += "S";
  if (info.esmtp && info.authenticated) with += "A";
  std::string out = fmt::format("Received: from {} ([{}])\r\n\tby {} (Postern) with {}",
                                printable(info.helo), info.client_address, info.by, with);
  if (info.tls && !info.tls_description.empty()) out += fmt::format(" ({})", info.tls_description);
  if (!info.id.empty()) out += fmt::format("\r\n\tid {}", info.id);
  if (!info.recipient.empty()) out += fmt::format("\r\n\tfor <{}>", info.recipient);
  out += fmt::format("; {}\r\n", rfc5322_date(info.when));
  return out;
}

}  // namespace postern::node::smtp
