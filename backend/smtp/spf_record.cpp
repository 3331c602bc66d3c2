#include "backend/smtp/spf_record.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/dns_message.hpp"

namespace postern::node::smtp {
namespace {

using Error = tl::unexpected<std::string>;

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}
bool is_alpha(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::vector<std::string_view> split(std::string_view s, std::string_view delimiters) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || delimiters.find(s[i]) != std::string_view::npos) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// "/24": a CIDR length without leading zeros, at most `max` (section 5.6).
std::optional<int> cidr_length(std::string_view digits, int max) {
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return {};
  int v = 0;
  for (char c : digits) {
    if (!is_digit(c)) return {};
    v = v * 10 + (c - '0');
  }
  if (v > max) return {};
  return v;
}

// Removes a trailing dual-cidr-length ("/24", "//64", "/24//64") from `arg`.
tl::expected<void, std::string> take_dual_cidr(std::string_view& arg, SpfMechanism& m) {
  auto take = [&](std::string_view sep, int max, int& out) -> tl::expected<void, std::string> {
    auto pos = arg.rfind(sep);
    if (pos == std::string_view::npos) return {};
    auto digits = arg.substr(pos + sep.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) return {};
    if (sep == "/" && pos > 0 && arg[pos - 1] == '/') return {};  // the "//" of an IPv6 length
    auto v = cidr_length(digits, max);
    if (!v) return Error(fmt::format("bad CIDR length in \"{}\"", m.text));
    out = *v;
    arg = arg.substr(0, pos);
    return {};
  };
  if (auto r = take("//", 128, m.cidr6); !r) return r;
  return take("/", 32, m.cidr4);
}

// The end of a domain-spec: a macro, or "." and a top label (section 7.1).
bool valid_domain_end(std::string_view spec) {
  if (!spec.empty() && spec.back() == '.') spec.remove_suffix(1);
  if (!spec.empty() && spec.back() == '}') return true;
  if (spec.size() >= 2 && spec[spec.size() - 2] == '%') return true;  // %% %_ %-
  auto dot = spec.rfind('.');
  if (dot == std::string_view::npos) return false;
  auto top = spec.substr(dot + 1);
  if (top.empty() || top.front() == '-' || top.back() == '-') return false;
  bool alpha = false, hyphen = false;
  for (char c : top) {
    if (!is_alnum(c) && c != '-') return false;
    alpha = alpha || is_alpha(c);
    hyphen = hyphen || c == '-';
  }
  return alpha || hyphen;
}

tl::expected<void, std::string> check_domain_spec(std::string_view spec, std::string_view term) {
  SpfMacroContext dummy;
  dummy.sender = "a@b.c";
  if (spec.empty() || !expand_spf_macros(spec, dummy) || !valid_domain_end(spec))
    return Error(fmt::format("bad domain-spec in \"{}\"", term));
  return {};
}

tl::expected<SpfMechanism, std::string> parse_mechanism(std::string_view term) {
  SpfMechanism m;
  m.text = std::string(term);
  std::string_view rest = term;
  switch (rest.front()) {
    case '+':
      m.qualifier = SpfQualifier::Pass, rest.remove_prefix(1);
      break;
    case '-':
      m.qualifier = SpfQualifier::Fail, rest.remove_prefix(1);
      break;
    case '~':
      m.qualifier = SpfQualifier::SoftFail, rest.remove_prefix(1);
      break;
    case '?':
      m.qualifier = SpfQualifier::Neutral, rest.remove_prefix(1);
      break;
    default:
      break;
  }
  auto end = rest.find_first_of(":/");
  auto name = rest.substr(0, end);
  std::string_view arg = end == std::string_view::npos ? "" : rest.substr(end);
  using K = SpfMechanismKind;
  static constexpr std::pair<std::string_view, K> kNames[] = {
      {"all", K::All}, {"include", K::Include}, {"a", K::A},     {"mx", K::Mx},
      {"ptr", K::Ptr}, {"ip4", K::Ip4},         {"ip6", K::Ip6}, {"exists", K::Exists}};
  auto it = std::find_if(std::begin(kNames), std::end(kNames),
                         [&](const auto& n) { return iequals(n.first, name); });
  if (it == std::end(kNames)) return Error(fmt::format("unknown mechanism \"{}\"", term));
  m.kind = it->second;
  bool cidr = m.kind == K::A || m.kind == K::Mx;
  if (cidr)
    if (auto r = take_dual_cidr(arg, m); !r) return Error(r.error());
  if (m.kind == K::All) {
    if (!arg.empty()) return Error(fmt::format("\"all\" takes no argument: \"{}\"", term));
    return m;
  }
  if (m.kind == K::Ip4 || m.kind == K::Ip6) {
    bool v6 = m.kind == K::Ip6;
    if (arg.size() < 2 || arg[0] != ':')
      return Error(fmt::format("missing address in \"{}\"", term));
    arg.remove_prefix(1);
    auto slash = arg.find('/');
    if (slash != std::string_view::npos) {
      auto len = cidr_length(arg.substr(slash + 1), v6 ? 128 : 32);
      if (!len) return Error(fmt::format("bad CIDR length in \"{}\"", term));
      (v6 ? m.cidr6 : m.cidr4) = *len;
      arg = arg.substr(0, slash);
    }
    auto ip = core::IpAddress::parse(arg);
    // An ip6 network must be written as IPv6 (a bare dotted quad is ip4's).
    if (!ip || (v6 != (arg.find(':') != std::string_view::npos)))
      return Error(fmt::format("bad address in \"{}\"", term));
    m.network = *ip;
    return m;
  }
  if (!arg.empty()) {
    if (arg[0] != ':') return Error(fmt::format("bad argument in \"{}\"", term));
    m.domain_spec = std::string(arg.substr(1));
    if (auto r = check_domain_spec(m.domain_spec, term); !r) return Error(r.error());
  } else if (m.kind == K::Include || m.kind == K::Exists) {
    return Error(fmt::format("\"{}\" needs a domain", term));
  }
  return m;
}

std::string ip_nibbles(const core::IpAddress& ip) {
  if (!ip.v6) return ip.to_string();
  std::string out;
  for (auto b : ip.bytes) out += fmt::format("{:x}.{:x}.", b >> 4, b & 0xF);
  out.pop_back();
  return out;
}

std::string url_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
      out.push_back(c);
    else
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
  }
  return out;
}

tl::expected<std::string, std::string> macro_value(char letter, const SpfMacroContext& ctx,
                                                   bool explanation) {
  auto at = ctx.sender.rfind('@');
  switch (lower(letter)) {
    case 's':
      return ctx.sender;
    case 'l':
      return at == std::string::npos ? "postmaster" : ctx.sender.substr(0, at);
    case 'o':
      return at == std::string::npos ? ctx.sender : ctx.sender.substr(at + 1);
    case 'd':
      return ctx.domain;
    case 'i':
      return ip_nibbles(ctx.client);
    // The validated PTR name is costly and discouraged (section 7.3): "unknown".
    case 'p':
      return std::string("unknown");
    case 'v':
      return std::string(ctx.client.v6 ? "ip6" : "in-addr");
    case 'h':
      return ctx.helo;
    default:
      break;
  }
  if (explanation) {
    switch (lower(letter)) {
      case 'c':
        return ctx.client.to_string();
      case 'r':
        return ctx.receiver.empty() ? std::string("unknown") : ctx.receiver;
      case 't':
        return std::to_string(ctx.timestamp);
      default:
        break;
    }
  }
  return Error(fmt::format("unknown macro letter '{}'", letter));
}

// One "%{...}" body (without the braces): letter, digits, 'r', delimiters.
tl::expected<std::string, std::string> expand_one(std::string_view body, const SpfMacroContext& ctx,
                                                  bool explanation) {
  if (body.empty()) return Error("empty macro");
  auto value = macro_value(body[0], ctx, explanation);
  if (!value) return value;
  std::size_t i = 1;
  std::size_t keep = 0;  // 0: every part
  bool digits = false;
  for (; i < body.size() && is_digit(body[i]); ++i) {
    digits = true;
    keep = std::min<std::size_t>(keep * 10 + static_cast<std::size_t>(body[i] - '0'), 1000);
  }
  if (digits && keep == 0) return Error("macro keeps zero parts");
  bool reverse = i < body.size() && lower(body[i]) == 'r';
  if (reverse) ++i;
  auto delimiters = body.substr(i);
  if (delimiters.find_first_not_of(".-+,/_=") != std::string_view::npos)
    return Error(fmt::format("bad macro delimiter in \"{}\"", body));
  if (delimiters.empty()) delimiters = ".";
  auto parts = split(*value, delimiters);
  if (reverse) std::reverse(parts.begin(), parts.end());
  if (keep != 0 && keep < parts.size())
    parts.erase(parts.begin(), parts.end() - static_cast<long>(keep));
  std::string out;
  for (std::size_t k = 0; k < parts.size(); ++k) out.append(k == 0 ? "" : ".").append(parts[k]);
  return is_alpha(body[0]) && std::isupper(static_cast<unsigned char>(body[0])) ? url_escape(out)
                                                                                : out;
}

}  // namespace

bool SpfMechanism::queries_dns() const {
  return kind != SpfMechanismKind::All && kind != SpfMechanismKind::Ip4 &&
         kind != SpfMechanismKind::Ip6;
}

bool SpfRecord::has_all() const {
  return std::any_of(mechanisms.begin(), mechanisms.end(),
                     [](const auto& m) { return m.kind == SpfMechanismKind::All; });
}

bool is_spf_record(std::string_view txt) {
  return txt.size() >= 6 && iequals(txt.substr(0, 6), "v=spf1") &&
         (txt.size() == 6 || txt[6] == ' ');
}

tl::expected<SpfRecord, std::string> parse_spf_record(std::string_view txt) {
  if (!is_spf_record(txt)) return Error("not an SPF record");
  SpfRecord record;
  for (auto term : split(txt.substr(6), " ")) {
    if (term.empty()) continue;
    auto name_end = std::find_if_not(term.begin(), term.end(), [](char c) {
      return is_alnum(c) || c == '-' || c == '_' || c == '.';
    });
    if (name_end != term.begin() && is_alpha(term.front()) && name_end != term.end() &&
        *name_end == '=') {
      auto name = term.substr(0, static_cast<std::size_t>(name_end - term.begin()));
      auto value = term.substr(name.size() + 1);
      bool redirect = iequals(name, "redirect"), exp = iequals(name, "exp");
      if (redirect || exp) {
        auto& slot = redirect ? record.redirect : record.exp;
        if (slot) return Error(fmt::format("more than one \"{}=\"", name));
        if (auto r = check_domain_spec(value, term); !r) return Error(r.error());
        slot = std::string(value);
      } else if (SpfMacroContext dummy; !expand_spf_macros(value, dummy)) {
        return Error(fmt::format("bad macro in \"{}\"", term));  // unknown modifier: else ignored
      }
      continue;
    }
    auto m = parse_mechanism(term);
    if (!m) return Error(m.error());
    record.mechanisms.push_back(std::move(*m));
  }
  return record;
}

tl::expected<std::string, std::string> expand_spf_macros(std::string_view text,
                                                         const SpfMacroContext& ctx,
                                                         bool explanation) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '%') {
      if (!explanation && (c < 0x21 || c > 0x7e))
        return Error(fmt::format("bad character in \"{}\"", text));
      out.push_back(c);
      continue;
    }
    if (++i == text.size()) return Error(fmt::format("lone '%' in \"{}\"", text));
    if (text[i] == '%') {
      out.push_back('%');
    } else if (text[i] == '_') {
      out.push_back(' ');
    } else if (text[i] == '-') {
      out += "%20";
    } else if (text[i] == '{') {
      auto close = text.find('}', i);
      if (close == std::string_view::npos)
        return Error(fmt::format("unclosed macro in \"{}\"", text));
      auto part = expand_one(text.substr(i + 1, close - i - 1), ctx, explanation);
      if (!part) return part;
      out += *part;
      i = close;
    } else {
      return Error(fmt::format("bad '%' escape in \"{}\"", text));
    }
  }
  return out;
}

tl::expected<std::string, std::string> expand_spf_domain(std::string_view spec,
                                                         const SpfMacroContext& ctx) {
  auto out = expand_spf_macros(spec, ctx);
  if (!out) return out;
  while (out->size() > 253) {
    auto dot = out->find('.');
    if (dot == std::string::npos) return Error("expanded domain too long");
    out->erase(0, dot + 1);
  }
  return out;
}

bool spf_cidr_match(const core::IpAddress& a, const core::IpAddress& network, int prefix) {
  if (a.v6 != network.v6 || prefix < 0 || prefix > (a.v6 ? 128 : 32)) return false;
  for (int bit = 0; bit < prefix; bit += 8) {
    int n = std::min(8, prefix - bit);
    auto mask = static_cast<std::uint8_t>(0xFF << (8 - n));
    if ((a.bytes[bit / 8] & mask) != (network.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

bool spf_valid_domain(std::string_view domain) {
  auto n = core::normalize_dns_name(domain);
  return n && n->find('.') != std::string::npos;
}

}  // namespace postern::node::smtp
