// The pure parts of SPF (RFC 7208), without DNS: reading a "v=spf1" record
// into terms (section 4.6, 5, 6), expanding macros (section 7) and matching an
// address against a network (CIDR). backend/smtp/spf.cpp evaluates them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "core/net_address.hpp"

namespace postern::node::smtp {

enum class SpfQualifier { Pass, Fail, SoftFail, Neutral };  // + - ~ ?
enum class SpfMechanismKind { All, Include, A, Mx, Ptr, Ip4, Ip6, Exists };

struct SpfMechanism {
  SpfQualifier qualifier = SpfQualifier::Pass;
  SpfMechanismKind kind = SpfMechanismKind::All;
  std::string domain_spec;  // a macro-string; "" when absent (the current domain)
  int cidr4 = 32;           // a, mx, ip4
  int cidr6 = 128;          // a, mx, ip6
  core::IpAddress network;  // ip4, ip6
  std::string text;         // the term as written, for logs and the header
  // include, a, mx, ptr, exists: counts toward the limit of 10 (section 4.6.4).
  bool queries_dns() const;
};

struct SpfRecord {
  std::vector<SpfMechanism> mechanisms;
  std::optional<std::string> redirect;  // domain-spec of redirect=
  std::optional<std::string> exp;       // domain-spec of exp=
  bool has_all() const;
};

// True for a TXT record that is an SPF record: "v=spf1" (any case) alone or
// followed by a space (section 4.5).
bool is_spf_record(std::string_view txt);

// Parses a record selected by is_spf_record(); the error says what is wrong
// (a permerror). Unknown modifiers are ignored, unknown mechanisms are errors.
tl::expected<SpfRecord, std::string> parse_spf_record(std::string_view txt);

// What the macros of section 7 expand to.
struct SpfMacroContext {
  core::IpAddress client;   // %{i} %{c} %{v}
  std::string sender;       // %{s}: local-part@domain ("postmaster@helo" for the null sender)
  std::string domain;       // %{d}: the domain being checked now
  std::string helo;         // %{h}
  std::string receiver;     // %{r}, explanations only
  long long timestamp = 0;  // %{t}, explanations only
};

// Expands a macro-string. `explanation`: the text of an exp= record, where
// %{c}, %{r} and %{t} are allowed too. Errors (a permerror) on bad syntax.
tl::expected<std::string, std::string> expand_spf_macros(std::string_view text,
                                                         const SpfMacroContext& ctx,
                                                         bool explanation = false);

// Expands a domain-spec and, when longer than 253 characters, drops labels
// from the left until it fits (section 7.3).
tl::expected<std::string, std::string> expand_spf_domain(std::string_view spec,
                                                         const SpfMacroContext& ctx);

// True when the first `prefix` bits of `a` and `network` agree (same family).
bool spf_cidr_match(const core::IpAddress& a, const core::IpAddress& network, int prefix);

// A domain check_host() accepts: at least two labels, each 1..63 characters,
// at most 253 in all (section 4.3).
bool spf_valid_domain(std::string_view domain);

}  // namespace postern::node::smtp
