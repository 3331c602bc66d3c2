#include "mapping/ldap_template.hpp"

#include <fmt/format.h>

#include "mapping/escape.hpp"

namespace postern::mapping {

tl::expected<void, std::string> check_template(std::string_view tmpl) {
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '%') continue;
    if (i + 1 == tmpl.size()) return tl::unexpected(std::string("ends with a lone '%'"));
    char c = tmpl[i + 1];
    if (c != 'u' && c != 'd' && c != 's' && c != '%') {
      return tl::unexpected(
          fmt::format("unknown placeholder '%{}' (expected %u, %d, %s or %%)", c));
    }
    ++i;
  }
  return {};
}

std::string expand_template(std::string_view tmpl, const Address& address, TemplateKind kind) {
  auto escape = [kind](std::string_view v) {
    return kind == TemplateKind::Filter ? escape_filter_value(v) : escape_dn_value(v);
  };
  std::string out;
  out.reserve(tmpl.size() + 64);
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '%' || i + 1 == tmpl.size()) {
      out += tmpl[i];
      continue;
    }
    switch (tmpl[++i]) {
      case 'u':
        out += escape(address.local);
        break;
      case 'd':
        out += escape(address.domain);
        break;
      case 's':
        out += escape(address.full());
        break;
      case '%':
        out += '%';
        break;
      default:
        out += '%';
        out += tmpl[i];
    }
  }
  return out;
}

}  // namespace postern::mapping
