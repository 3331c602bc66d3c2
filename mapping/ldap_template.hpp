// Filter and DN templates: "(mail=%s)", "uid=%u,ou=people,dc=example,dc=com".
//   %u  the local part       %d  the domain       %s  the whole address
//   %%  a literal percent sign
// Each substituted value is escaped for where it lands (filter or DN).
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "mapping/address.hpp"

namespace postern::mapping {

enum class TemplateKind { Filter, Dn };

// Checks a template at configuration time: only %u %d %s %% are known.
// Returns the reason when it is not valid.
tl::expected<void, std::string> check_template(std::string_view tmpl);

// Expands a template that check_template() accepted.
std::string expand_template(std::string_view tmpl, const Address& address, TemplateKind kind);

}  // namespace postern::mapping
