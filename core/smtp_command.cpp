#include "core/smtp_command.hpp"

#include <arpa/inet.h>

#include <array>
#include <cctype>
#include <utility>

namespace postern::core::smtp {

namespace {

Reply syntax(std::string text) {
  return Reply{501, "5.5.4", std::move(text)};
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}
bool is_high(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}

char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (upper(a[i]) != upper(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upper(c);
  return out;
}

// Well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF): the
// non-ASCII octets SMTPUTF8 allows in addresses must be real characters.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b < 0x80) {
      ++i;
      continue;
    }
    if (b >= 0xC2 && b <= 0xDF) {
      n = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

// RFC 5321 atext (RFC 5322 3.2.3) plus, for SMTPUTF8, non-ASCII octets.
bool is_atext(char c) {
  if (is_alnum(c) || is_high(c)) return true;
  constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return specials.find(c) != std::string_view::npos;
}

// sub-domain *("." sub-domain), each Let-dig [Ldh-str], or a U-label.
bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 255) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = d.find('.', start);
    const std::string_view label =
        d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-' && !is_high(c)) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return valid_utf8(d);
}

// "[1.2.3.4]" or "[IPv6:...]". General address literals (tag:content) name no
// transport anyone uses, so they are refused.
bool valid_address_literal(std::string_view lit) {
  if (lit.size() < 3 || lit.front() != '[' || lit.back() != ']') return false;
  std::string inner(lit.substr(1, lit.size() - 2));
  std::array<unsigned char, 16> buf{};
  if (istarts_with(inner, "IPv6:")) return inet_pton(AF_INET6, inner.c_str() + 5, buf.data()) == 1;
  for (char c : inner)
    if (!is_digit(c) && c != '.') return false;
  return inet_pton(AF_INET, inner.c_str(), buf.data()) == 1;
}

bool valid_domain_or_literal(std::string_view d) {
  return (!d.empty() && d.front() == '[') ? valid_address_literal(d) : valid_domain(d);
}

// Reads a path "<...>" at the start of `s`, advancing `s` past it.
tl::expected<Path, Reply> parse_path(std::string_view& s, bool mail) {
  if (s.empty() || s.front() != '<') return tl::unexpected(syntax("Syntax: path must be in <>"));
  std::size_t i = 1;
  Path path;
  if (i < s.size() && s[i] == '>') {
    if (!mail) return tl::unexpected(syntax("Null path not allowed in RCPT"));
    path.null = true;
    s.remove_prefix(2);
    return path;
  }
  // A source route "@a,@b:" is accepted and ignored (RFC 5321 4.1.1.3, C.).
  if (i < s.size() && s[i] == '@') {
    while (true) {
      const std::size_t begin = ++i;
      while (i < s.size() && s[i] != ',' && s[i] != ':' && s[i] != '>') ++i;
      if (i >= s.size() || s[i] == '>' || !valid_domain_or_literal(s.substr(begin, i - begin)))
        return tl::unexpected(syntax("Syntax: bad source route"));
      if (s[i] == ':') break;
      if (++i >= s.size() || s[i] != '@') return tl::unexpected(syntax("Syntax: bad source route"));
    }
    ++i;
  }
  // Local part: Dot-string or Quoted-string.
  const std::size_t local_begin = i;
  if (i < s.size() && s[i] == '"') {
    ++i;
    bool closed = false;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        closed = true;
        ++i;
        break;
      }
      if (c == '\\') {
        if (i + 1 >= s.size() || s[i + 1] < 32 || s[i + 1] > 126)
          return tl::unexpected(syntax("Syntax: bad quoted local part"));
        i += 2;
        continue;
      }
      if ((c < 32 && !is_high(c)) || c == 127)
        return tl::unexpected(syntax("Syntax: bad quoted local part"));
      ++i;
    }
    if (!closed || i - local_begin <= 2)
      return tl::unexpected(syntax("Syntax: bad quoted local part"));
  } else {
    bool need_atom = true;
    while (i < s.size() && (is_atext(s[i]) || s[i] == '.')) {
      if (s[i] == '.') {
        if (need_atom) return tl::unexpected(syntax("Syntax: bad local part"));
        need_atom = true;
      } else {
        need_atom = false;
      }
      ++i;
    }
    if (need_atom) return tl::unexpected(syntax("Syntax: bad local part"));
  }
  path.local_part = std::string(s.substr(local_begin, i - local_begin));
  if (i < s.size() && s[i] == '>' && !mail && iequals(path.local_part, "postmaster")) {
    path.postmaster = true;  // RFC 5321 4.1.1.3: "<Postmaster>" without a domain
    s.remove_prefix(i + 1);
    return path;
  }
  if (i < s.size() && s[i] == '>' && !mail) {
    // "RCPT TO:<alice>": an unqualified recipient; the session completes it
    // with the primary domain (as Postfix's append_at_myorigin does).
    if (path.local_part.size() > 64)
      return tl::unexpected(Reply{553, "5.1.3", "Local part too long"});
    if (!valid_utf8(path.local_part))
      return tl::unexpected(syntax("Syntax: invalid UTF-8 in address"));
    for (char c : path.local_part) path.utf8 = path.utf8 || is_high(c);
    s.remove_prefix(i + 1);
    return path;
  }
  if (i >= s.size() || s[i] != '@') return tl::unexpected(syntax("Syntax: address needs a domain"));
  const std::size_t domain_begin = ++i;
  if (i < s.size() && s[i] == '[') {
    while (i < s.size() && s[i] != ']') ++i;
    if (i < s.size()) ++i;
  } else {
    while (i < s.size() && s[i] != '>') ++i;
  }
  path.domain = std::string(s.substr(domain_begin, i - domain_begin));
  if (i >= s.size() || s[i] != '>') return tl::unexpected(syntax("Syntax: path must end with >"));
  if (!valid_domain_or_literal(path.domain)) return tl::unexpected(syntax("Syntax: bad domain"));
  if (path.local_part.size() > 64)
    return tl::unexpected(Reply{553, "5.1.3", "Local part too long"});
  if (!valid_utf8(path.local_part))
    return tl::unexpected(syntax("Syntax: invalid UTF-8 in address"));
  for (char c : path.local_part) path.utf8 = path.utf8 || is_high(c);
  for (char c : path.domain) path.utf8 = path.utf8 || is_high(c);
  s.remove_prefix(i + 1);
  return path;
}

bool all_digits(std::string_view v, std::size_t max_len) {
  if (v.empty() || v.size() > max_len) return false;
  for (char c : v)
    if (!is_digit(c)) return false;
  return true;
}

bool valid_notify(std::string_view v) {
  if (iequals(v, "NEVER")) return true;
  bool seen[3] = {false, false, false};
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = v.find(',', start);
    const std::string_view item =
        v.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    int index = iequals(item, "SUCCESS")   ? 0
                : iequals(item, "FAILURE") ? 1
                : iequals(item, "DELAY")   ? 2
                                           : -1;
    if (index < 0 || seen[index]) return false;
    seen[index] = true;
    if (comma == std::string_view::npos) return true;
    start = comma + 1;
  }
}

// ORCPT=addr-type ";" xtext (RFC 3461 4.2).
bool valid_orcpt(std::string_view v) {
  const std::size_t semi = v.find(';');
  if (semi == 0 || semi == std::string_view::npos || semi + 1 >= v.size()) return false;
  for (char c : v.substr(0, semi))
    if (!is_alnum(c) && c != '-') return false;
  return xtext_decode(v.substr(semi + 1)).has_value();
}

// Checks one parameter of MAIL (mail=true) or RCPT against RFC 1870, 6152,
// 6531, 3461 and 4954. Unknown keywords get 555 (RFC 5321 4.1.1.11).
std::optional<Reply> check_parameter(const Parameter& p, bool mail) {
  const std::string_view k = p.keyword;
  const std::string_view v = p.value ? std::string_view(*p.value) : std::string_view();
  auto needs_value = [&]() -> std::optional<Reply> {
    if (!p.value) return syntax(std::string(k) + " needs a value");
    return std::nullopt;
  };
  if (mail && k == "SIZE") {
    if (auto e = needs_value()) return e;
    if (!all_digits(v, 20)) return syntax("Bad SIZE value");
    return std::nullopt;
  }
  if (mail && k == "BODY") {
    if (auto e = needs_value()) return e;
    if (iequals(v, "7BIT") || iequals(v, "8BITMIME")) return std::nullopt;
    if (iequals(v, "BINARYMIME"))
      return Reply{504, "5.5.4", "BODY=BINARYMIME is not supported (no CHUNKING)"};
    return syntax("Bad BODY value");
  }
  if (mail && k == "SMTPUTF8") {
    if (p.value) return syntax("SMTPUTF8 takes no value");
    return std::nullopt;
  }
  if (mail && k == "RET") {
    if (auto e = needs_value()) return e;
    if (iequals(v, "FULL") || iequals(v, "HDRS")) return std::nullopt;
    return syntax("Bad RET value");
  }
  if (mail && (k == "ENVID" || k == "AUTH")) {
    if (auto e = needs_value()) return e;
    if (k == "AUTH" && v == "<>") return std::nullopt;
    // RFC 3461 4.4: an ENVID is at most 100 characters.
    const std::size_t max_len = k == "ENVID" ? 100 : 500;
    if (!xtext_decode(v) || v.size() > max_len) return syntax("Bad " + std::string(k) + " value");
    return std::nullopt;
  }
  if (!mail && k == "NOTIFY") {
    if (auto e = needs_value()) return e;
    if (!valid_notify(v)) return syntax("Bad NOTIFY value");
    return std::nullopt;
  }
  if (!mail && k == "ORCPT") {
    if (auto e = needs_value()) return e;
    if (!valid_orcpt(v)) return syntax("Bad ORCPT value");
    return std::nullopt;
  }
  return Reply{555, "5.5.4", "Unsupported parameter " + std::string(k)};
}

// esmtp-param *(SP esmtp-param), after the path. Extra spaces are tolerated.
tl::expected<std::vector<Parameter>, Reply> parse_parameters(std::string_view s, bool mail) {
  std::vector<Parameter> out;
  while (true) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) break;
    std::size_t end = s.find(' ');
    if (end == std::string_view::npos) end = s.size();
    const std::string_view param = s.substr(0, end);
    s.remove_prefix(end);
    const std::size_t eq = param.find('=');
    const std::string_view key = param.substr(0, eq);
    if (key.empty() || !is_alnum(key.front()))
      return tl::unexpected(syntax("Syntax: bad parameter"));
    for (char c : key)
      if (!is_alnum(c) && c != '-') return tl::unexpected(syntax("Syntax: bad parameter"));
    Parameter p{to_upper(key), std::nullopt};
    if (eq != std::string_view::npos) {
      const std::string_view value = param.substr(eq + 1);
      // esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii)
      if (value.empty() || !valid_utf8(value))
        return tl::unexpected(syntax("Syntax: bad parameter value"));
      for (char c : value)
        if (c == '=' || ((c < 33 || c > 126) && !is_high(c)))
          return tl::unexpected(syntax("Syntax: bad parameter value"));
      p.value = std::string(value);
    }
    for (const auto& seen : out)
      if (seen.keyword == p.keyword)
        return tl::unexpected(syntax("Duplicate parameter " + p.keyword));
    if (auto err = check_parameter(p, mail)) return tl::unexpected(std::move(*err));
    out.push_back(std::move(p));
  }
  return out;
}

// "FROM:<path> params" / "TO:<path> params".
tl::expected<void, Reply> parse_mail_rcpt(std::string_view arg, Command& cmd) {
  const bool mail = cmd.verb == Verb::Mail;
  const std::string_view keyword = mail ? "FROM:" : "TO:";
  if (!istarts_with(arg, keyword))
    return tl::unexpected(
        syntax(mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>"));
  arg.remove_prefix(keyword.size());
  // Postfix (and so many clients' expectations) allow spaces after the colon.
  while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
  auto path = parse_path(arg, mail);
  if (!path) return tl::unexpected(std::move(path.error()));
  cmd.path = std::move(*path);
  if (!arg.empty() && arg.front() != ' ') return tl::unexpected(syntax("Syntax: junk after path"));
  auto params = parse_parameters(arg, mail);
  if (!params) return tl::unexpected(std::move(params.error()));
  cmd.parameters = std::move(*params);
  return {};
}

// ADDR/DESTADDR are IP addresses (IPv6 with Postfix's "IPV6:" prefix),
// PORT/DESTPORT 0..65535, PROTO SMTP or ESMTP; the names are free text.
bool valid_xclient_value(const XclientAttribute& a) {
  using Name = XclientAttribute::Name;
  std::array<unsigned char, 16> buf{};
  switch (a.name) {
    case Name::Addr:
    case Name::DestAddr:
      if (istarts_with(a.value, "IPV6:"))
        return inet_pton(AF_INET6, a.value.c_str() + 5, buf.data()) == 1;
      return inet_pton(AF_INET, a.value.c_str(), buf.data()) == 1 ||
             inet_pton(AF_INET6, a.value.c_str(), buf.data()) == 1;
    case Name::Port:
    case Name::DestPort:
      return all_digits(a.value, 5) && std::stoul(a.value) <= 65535;
    case Name::Proto:
      return iequals(a.value, "SMTP") || iequals(a.value, "ESMTP");
    case Name::Name:
    case Name::Helo:
    case Name::Login:
      break;
  }
  return true;
}

struct VerbEntry {
  std::string_view name;
  Verb verb;
};

constexpr std::array<VerbEntry, 15> kVerbs = {{
    {"HELO", Verb::Helo},
    {"EHLO", Verb::Ehlo},
    {"MAIL", Verb::Mail},
    {"RCPT", Verb::Rcpt},
    {"DATA", Verb::Data},
    {"RSET", Verb::Rset},
    {"NOOP", Verb::Noop},
    {"QUIT", Verb::Quit},
    {"VRFY", Verb::Vrfy},
    {"EXPN", Verb::Expn},
    {"HELP", Verb::Help},
    {"STARTTLS", Verb::Starttls},
    {"AUTH", Verb::Auth},
    {"BDAT", Verb::Bdat},
    {"XCLIENT", Verb::Xclient},
}};

}  // namespace

std::string_view verb_name(Verb verb) {
  for (const auto& e : kVerbs)
    if (e.verb == verb) return e.name;
  return "?";
}

std::string Path::address() const {
  if (null) return "";
  if (postmaster || domain.empty()) return local_part;
  return local_part + "@" + domain;
}

std::optional<std::string> xtext_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      auto hex = [](char h) -> int {
        if (is_digit(h)) return h - '0';
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;  // RFC 3461: upper-case hex only
      };
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex(text[i + 1]);
      const int lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return std::nullopt;
    } else {
      out += c;
    }
  }
  return out;
}

tl::expected<std::vector<XclientAttribute>, Reply> parse_xclient(std::string_view args) {
  using Name = XclientAttribute::Name;
  static constexpr std::array<std::pair<std::string_view, Name>, 8> kNames = {{
      {"NAME", Name::Name},
      {"ADDR", Name::Addr},
      {"PORT", Name::Port},
      {"PROTO", Name::Proto},
      {"HELO", Name::Helo},
      {"LOGIN", Name::Login},
      {"DESTADDR", Name::DestAddr},
      {"DESTPORT", Name::DestPort},
  }};
  std::vector<XclientAttribute> out;
  while (true) {
    while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
    if (args.empty()) break;
    std::size_t end = args.find(' ');
    if (end == std::string_view::npos) end = args.size();
    const std::string_view item = args.substr(0, end);
    args.remove_prefix(end);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return tl::unexpected(syntax("Bad XCLIENT attribute syntax"));
    const std::string_view key = item.substr(0, eq);
    const std::string_view raw = item.substr(eq + 1);
    XclientAttribute attr;
    bool known = false;
    for (const auto& [n, name] : kNames) {
      if (iequals(key, n)) {
        attr.name = name;
        known = true;
      }
    }
    if (!known) return tl::unexpected(syntax("Bad XCLIENT attribute name: " + std::string(key)));
    if (iequals(raw, "[UNAVAILABLE]")) {
      attr.state = XclientAttribute::State::Unavailable;
    } else if (iequals(raw, "[TEMPUNAVAIL]")) {
      attr.state = XclientAttribute::State::TempUnavailable;
    } else {
      auto value = xtext_decode(raw);
      if (!value || value->empty()) return tl::unexpected(syntax("Bad XCLIENT attribute value"));
      attr.value = std::move(*value);
      if (!valid_xclient_value(attr))
        return tl::unexpected(syntax("Bad XCLIENT " + std::string(key) + " value"));
    }
    out.push_back(std::move(attr));
  }
  if (out.empty()) return tl::unexpected(syntax("Syntax: XCLIENT attribute=value..."));
  return out;
}

tl::expected<Command, Reply> parse_command(std::string_view line) {
  const std::size_t sp = line.find(' ');
  const std::string_view word = line.substr(0, sp);
  std::string_view arg = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  // Trailing spaces are common from hand-typed sessions and harmless.
  while (!arg.empty() && arg.back() == ' ') arg.remove_suffix(1);
  Command cmd;
  bool known = false;
  for (const auto& e : kVerbs) {
    if (iequals(word, e.name)) {
      cmd.verb = e.verb;
      known = true;
    }
  }
  if (!known) return tl::unexpected(Reply{500, "5.5.2", "Error: command not recognized"});
  const std::string name(verb_name(cmd.verb));
  switch (cmd.verb) {
    case Verb::Helo:
    case Verb::Ehlo: {
      // The argument is a domain or an address literal; Postfix-like leniency
      // (one word, not checked further) since many clients send odd names.
      if (arg.empty() || arg.find(' ') != std::string_view::npos)
        return tl::unexpected(syntax("Syntax: " + name + " hostname"));
      break;
    }
    case Verb::Mail:
    case Verb::Rcpt: {
      if (auto r = parse_mail_rcpt(arg, cmd); !r) return tl::unexpected(std::move(r.error()));
      return cmd;
    }
    case Verb::Data:
    case Verb::Rset:
    case Verb::Quit:
    case Verb::Starttls:
      if (!arg.empty()) return tl::unexpected(syntax("Syntax: " + name));
      break;
    case Verb::Vrfy:
    case Verb::Expn:
    case Verb::Auth:
      if (arg.empty()) return tl::unexpected(syntax("Syntax: " + name + " argument"));
      break;
    case Verb::Noop:
    case Verb::Help:
      break;
    case Verb::Bdat:
      return tl::unexpected(Reply{502, "5.5.1", "BDAT not supported"});
    case Verb::Xclient: {
      auto attrs = parse_xclient(arg);
      if (!attrs) return tl::unexpected(std::move(attrs.error()));
      cmd.xclient = std::move(*attrs);
      return cmd;
    }
  }
  cmd.argument = std::string(arg);
  return cmd;
}

LineCodec::LineCodec(LineLimits limits) : limits_(limits) {}

LineEvent LineCodec::feed(std::string_view bytes) {
  LineEvent ev;
  // The limit counts CRLF (RFC 5321 4.5.3.1.4), so the text may be 2 shorter.
  const std::size_t max_text = limits_.max_line > 2 ? limits_.max_line - 2 : 0;
  std::size_t i = 0;
  for (; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c == '\n') {
      ev.consumed = i + 1;
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (too_long_) {
        ev.status = LineStatus::Error;
        ev.kind = LineEvent::ErrorKind::TooLong;
        ev.error = Reply{500, "5.5.2", "Error: line too long"};
      } else if (nul_) {
        ev.status = LineStatus::Error;
        ev.kind = LineEvent::ErrorKind::Nul;
        ev.error = Reply{500, "5.5.2", "Error: NUL character in command"};
      } else {
        ev.status = LineStatus::Line;
        ev.line = std::move(line_);
      }
      line_.clear();
      too_long_ = nul_ = false;
      return ev;
    }
    if (too_long_ || nul_) continue;
    if (c == '\0') {
      nul_ = true;
      line_.clear();
      continue;
    }
    // A CR may be the first half of CRLF, so it is held one byte beyond max_text.
    if (line_.size() >= max_text + (c == '\r' ? 1 : 0) ||
        (!line_.empty() && line_.size() >= max_text && line_.back() == '\r')) {
      too_long_ = true;
      line_.clear();
      continue;
    }
    line_ += c;
  }
  ev.consumed = i;
  return ev;
}

}  // namespace postern::core::smtp
