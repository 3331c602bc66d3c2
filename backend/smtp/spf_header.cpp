// The Received-SPF header of RFC 7208 section 9.1: the result, a comment in
// words, then key=value pairs a program can read.
#include <fmt/format.h>

#include <algorithm>

#include "backend/smtp/spf.hpp"

namespace postern::node::smtp {
namespace {

constexpr std::size_t kLineWidth = 78;

// Text from the network, made safe for a header: printable ASCII only.
std::string printable(std::string_view s, std::size_t max = 256) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : '_');
  return out;
}

// Inside a comment, parentheses and backslashes would change its structure.
std::string comment_safe(std::string_view s) {
  auto out = printable(s);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '(' || c == ')' || c == '\\'; }, '_');
  return out;
}

std::string quoted_string(std::string_view s) {
  std::string out = "\"";
  for (char c : printable(s)) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A dot-atom (RFC 5322 section 3.2.3) as it is, anything else quoted.
std::string dot_atom_or_quoted(std::string_view s) {
  static constexpr std::string_view kAtext = "!#$%&'*+-/=?^_`{|}~";
  bool atom = !s.empty() && s.front() != '.' && s.back() != '.' && s.find("..") == s.npos &&
              std::all_of(s.begin(), s.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                       kAtext.find(c) != std::string_view::npos;
              });
  return atom ? std::string(s) : quoted_string(s);
}

std::string comment(SpfResult r, const std::string& who, const std::string& ip) {
  switch (r) {
    case SpfResult::Pass:
      return fmt::format("domain of {} designates {} as permitted sender", who, ip);
    case SpfResult::Fail:
      return fmt::format("domain of {} does not designate {} as permitted sender", who, ip);
    case SpfResult::SoftFail:
      return fmt::format("domain of transitioning {} does not designate {} as permitted sender",
                         who, ip);
    case SpfResult::Neutral:
      return fmt::format("{} is neither permitted nor denied by domain of {}", ip, who);
    case SpfResult::None:
      return fmt::format("domain of {} does not designate permitted sender hosts", who);
    case SpfResult::TempError:
      return fmt::format("temporary error in processing during lookup of domain of {}", who);
    case SpfResult::PermError:
      return fmt::format("permanent error in processing domain of {}", who);
  }
  return "";
}

}  // namespace

std::string received_spf_header(const SpfRequest& request, const SpfVerdict& verdict) {
  auto ip = request.client.to_string();
  bool helo_identity = request.sender.empty();
  auto who = comment_safe(helo_identity ? "postmaster@" + request.helo : request.sender);
  auto receiver = request.receiver.empty() ? std::string("unknown") : printable(request.receiver);

  std::vector<std::string> words{"Received-SPF:", std::string(spf_result_name(verdict.result))};
  std::string text =
      fmt::format("({}: {})", comment_safe(receiver), comment(verdict.result, who, ip));
  for (std::size_t start = 0; start < text.size();) {
    auto space = text.find(' ', start);
    if (space == std::string::npos) space = text.size();
    words.push_back(text.substr(start, space - start));
    start = space + 1;
  }
  words.push_back(fmt::format("client-ip={};", ip));
  words.push_back(fmt::format("envelope-from={};", quoted_string(request.sender)));
  words.push_back(fmt::format("helo={};", dot_atom_or_quoted(request.helo)));
  words.push_back(fmt::format("receiver={};", dot_atom_or_quoted(receiver)));
  words.push_back(fmt::format("identity={};", helo_identity ? "helo" : "mailfrom"));
  if (!verdict.mechanism.empty())
    words.push_back(fmt::format("mechanism={};", quoted_string(verdict.mechanism)));
  if (!verdict.problem.empty())
    words.push_back(fmt::format("problem={};", quoted_string(verdict.problem)));

  // Folded with CRLF SP before a word that would pass the line width.
  std::string out;
  std::size_t line = 0;
  for (const auto& w : words) {
    if (out.empty()) {
      out = w;
      line = w.size();
    } else if (line + 1 + w.size() > kLineWidth) {
      out += "\r\n " + w;
      line = 1 + w.size();
    } else {
      out += " " + w;
      line += 1 + w.size();
    }
  }
  return out;
}

}  // namespace postern::node::smtp
