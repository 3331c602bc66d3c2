#include "backend/node/node_service.hpp"

namespace postern::node {

const std::map<std::string, ServiceFactory>& node_services() {
  static const std::map<std::string, ServiceFactory> services = {};
  return services;
}

}  // namespace postern::node
