// MxLookup over core::DnsResolver. Kept apart from mx_route.cpp so that code
// (and tests) using a fake lookup does not link the resolver.
#include "backend/queue/mx_route.hpp"

namespace postern::node::queue {

namespace {

class DnsMxLookup final : public MxLookup {
 public:
  explicit DnsMxLookup(core::DnsResolver& resolver) : resolver_(resolver) {}
  void mx(std::string_view domain,
          std::function<void(core::DnsAnswer<core::MxRecord>)> done) override {
    resolver_.mx(domain, std::move(done));
  }
  void addresses(std::string_view host,
                 std::function<void(core::DnsAnswer<core::IpAddress>)> done) override {
    resolver_.addresses(host, std::move(done));
  }

 private:
  core::DnsResolver& resolver_;
};

}  // namespace

std::shared_ptr<MxLookup> make_dns_mx_lookup(core::DnsResolver& resolver) {
  return std::make_shared<DnsMxLookup>(resolver);
}

}  // namespace postern::node::queue
