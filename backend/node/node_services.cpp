#include "backend/imap/imap_service.hpp"
#include "backend/node/node_service.hpp"
#include "backend/pop3/pop3_service.hpp"
#include "backend/smtp/smtp_service.hpp"

namespace postern::node {

const std::map<std::string, ServiceFactory>& node_services() {
  static const std::map<std::string, ServiceFactory> services = {
      {"imap", &imap::make_imap_service},
      {"pop3", &pop3::make_pop3_service},
      {"smtp", &smtp::make_smtp_service},
      {"submission", &smtp::make_smtp_service},
  };
  return services;
}

}  // namespace postern::node
