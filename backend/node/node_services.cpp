#include "backend/imap/imap_service.hpp"
#include "backend/node/node_service.hpp"
#include "backend/pop3/pop3_service.hpp"
#include "backend/smtp/smtp_service.hpp"
#include "backend/webmail/webmail_service.hpp"

namespace postern::node {

const std::map<std::string, ServiceFactory>& node_services() {
  // clang-format off
  static const std::map<std::string, ServiceFactory> services = {
      {"http", &webmail::make_webmail_service},  // WebMail: backend/webmail/API.md
      {"imap", &imap::make_imap_service},
      {"pop3", &pop3::make_pop3_service},
      {"smtp", &smtp::make_smtp_service},
      {"submission", &smtp::make_smtp_service},
  };
  // clang-format on
  return services;
}

}  // namespace postern::node
