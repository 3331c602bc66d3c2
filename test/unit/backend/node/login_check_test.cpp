// check_master_login against a recording directory: who may act for whom, and
// that the account's own rules (state, group, node, service) still apply.
#include "backend/node/login_check.hpp"

#include <doctest/doctest.h>

#include <future>
#include <map>
#include <set>

#include "core/log.hpp"
#include "test/unit/backend/store/store_test_support.hpp"

namespace postern::node {
namespace {

// openssl passwd -6 -salt saltsalt secret
const std::string kSecretSha512 =
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq."
    "H91p5hVO1";
const std::string kGroup = "cn=mailusers,ou=groups,dc=example,dc=com";

// Accounts by address; members of kGroup by DN. Records what was asked.
class RecordingDirectory final : public mapping::Directory {
 public:
  std::map<std::string, mapping::Account> accounts;
  std::set<std::string> members;
  std::vector<std::string> calls;

  void lookup(std::string_view login, core::Executor& reply,
              mapping::LookupCallback done) override {
    calls.push_back("lookup " + std::string(login));
    mapping::LookupResult r;
    auto it = accounts.find(std::string(login));
    r.status =
        it == accounts.end() ? mapping::LookupStatus::NotFound : mapping::LookupStatus::Found;
    if (it != accounts.end()) r.account = it->second;
    reply.post([done, r] { done(r); });
  }
  void authenticate(std::string_view login, core::Secret, core::Executor& reply,
                    mapping::AuthCallback done) override {
    calls.push_back("authenticate " + std::string(login));
    reply.post([done] { done(mapping::AuthResult{}); });
  }
  void is_member(std::string_view dn, std::string_view group, core::Executor& reply,
                 mapping::MembershipCallback done) override {
    calls.push_back("is_member " + std::string(dn));
    mapping::MembershipResult r;
    r.status = group == kGroup && members.count(std::string(dn))
                   ? mapping::MembershipStatus::Member
                   : mapping::MembershipStatus::NotMember;
    reply.post([done, r] { done(r); });
  }
};

mapping::Account account(const std::string& address, const std::string& node,
                         const std::string& dn) {
  mapping::Account a;
  a.address = address;
  a.node = node;
  a.dn = dn;
  return a;
}

class Harness {
 public:
  Harness() {
    config_.name = "node1";
    std::string bad;
    config_.trusted_proxies = *core::NetworkList::parse({"10.0.0.0/8"}, &bad);
    config_.master_users.push_back({"proxy-master", kSecretSha512, ""});
    config_.master_users.push_back({"dev-master", "", "clear"});
    config_.directory.source = mapping::DirectoryConfig::Source::Ldap;
    config_.directory.ldap.required_group = kGroup;
    directory.accounts["alice@example.com"] =
        account("alice@example.com", "node1", "uid=alice,ou=people,dc=example,dc=com");
    directory.accounts["bob@example.com"] =
        account("bob@example.com", "node2", "uid=bob,ou=people,dc=example,dc=com");
    directory.accounts["dave@example.com"] =
        account("dave@example.com", "node1", "uid=dave,ou=people,dc=example,dc=com");
    auto disabled = account("erin@example.com", "node1", "uid=erin,ou=people,dc=example,dc=com");
    disabled.state = mapping::AccountState::Disabled;
    directory.accounts["erin@example.com"] = disabled;
    auto imap_only = account("carol@example.com", "node1", "uid=carol,ou=people,dc=example,dc=com");
    imap_only.services = {"imap"};
    directory.accounts["carol@example.com"] = imap_only;
    for (const auto* uid : {"alice", "bob", "carol", "erin"})
      directory.members.insert(std::string("uid=") + uid + ",ou=people,dc=example,dc=com");
    store_ = std::make_unique<store::Store>(dir_.path().string());
    context_.reset(new NodeContext{config_, directory, *store_, workers_, metrics_});
    core::set_log_level(core::LogLevel::Warn);
  }
  ~Harness() { core::set_log_level(saved_level_); }

  LoginResult check(const std::string& target, const std::string& master,
                    const std::string& password, const std::string& peer = "10.1.2.3",
                    const std::string& service = "pop3") {
    std::promise<LoginResult> result;
    auto ip = *core::IpAddress::parse(peer);
    loop_.loop().post([&] {
      check_master_login(*context_, service, target, master, core::Secret(password), ip,
                         loop_.loop(), [&](LoginResult r) { result.set_value(std::move(r)); });
    });
    return result.get_future().get();
  }

  RecordingDirectory directory;
  NodeConfig config_;

 private:
  core::LogLevel saved_level_ = core::log_level();
  store::test::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  core::WorkerPool workers_{2, 100};
  core::MetricsRegistry metrics_;
  std::unique_ptr<NodeContext> context_;
  core::LoopThread loop_;
};

}  // namespace

TEST_CASE("master login: the master's password and a trusted peer let it act for an account") {
  Harness h;
  auto r = h.check("alice@example.com", "proxy-master", "secret");
  CHECK(r.outcome == LoginOutcome::Ok);
  CHECK(r.account.address == "alice@example.com");
  CHECK(r.master == "proxy-master");
  CHECK(h.directory.calls ==
        std::vector<std::string>{"lookup alice@example.com",
                                 "is_member uid=alice,ou=people,dc=example,dc=com"});
  // The development form: the password in clear.
  CHECK(h.check("alice@example.com", "dev-master", "clear").outcome == LoginOutcome::Ok);
}

TEST_CASE("master login: refused before the directory is asked") {
  Harness h;
  auto untrusted = h.check("alice@example.com", "proxy-master", "secret", "192.0.2.1");
  CHECK(untrusted.outcome == LoginOutcome::Denied);
  CHECK(untrusted.detail.find("not a trusted proxy") != std::string::npos);
  CHECK(untrusted.master == "proxy-master");
  auto wrong = h.check("alice@example.com", "proxy-master", "Secret");
  CHECK(wrong.outcome == LoginOutcome::Denied);
  CHECK(wrong.detail == "wrong_password: wrong password for master user proxy-master");
  CHECK(h.check("alice@example.com", "dev-master", "clear!").outcome == LoginOutcome::Denied);
  auto unknown = h.check("alice@example.com", "alice@example.com", "secret");
  CHECK(unknown.outcome == LoginOutcome::Denied);
  CHECK(unknown.detail.find("impersonation") == 0);
  CHECK(h.directory.calls.empty());
  // No master users at all: every authzid is an impersonation.
  h.config_.master_users.clear();
  CHECK(h.check("alice@example.com", "proxy-master", "secret").detail ==
        "impersonation: no master users configured");
}

TEST_CASE("master login: the account's own rules still apply") {
  Harness h;
  auto dave = h.check("dave@example.com", "proxy-master", "secret");
  CHECK(dave.outcome == LoginOutcome::Denied);
  CHECK(dave.detail.find("not_in_group") == 0);
  CHECK(h.check("nobody@example.com", "proxy-master", "secret").outcome == LoginOutcome::Denied);
  auto erin = h.check("erin@example.com", "proxy-master", "secret");
  CHECK(erin.outcome == LoginOutcome::Denied);
  CHECK(erin.detail.find("disabled") == 0);
  CHECK(h.check("bob@example.com", "proxy-master", "secret").outcome == LoginOutcome::WrongNode);
  CHECK(h.check("carol@example.com", "proxy-master", "secret", "10.1.2.3", "pop3").outcome ==
        LoginOutcome::ServiceDisabled);
  CHECK(h.check("carol@example.com", "proxy-master", "secret", "10.1.2.3", "imap").outcome ==
        LoginOutcome::Ok);
  // The file source has no groups: none is asked for.
  h.config_.directory.source = mapping::DirectoryConfig::Source::File;
  h.directory.calls.clear();
  CHECK(h.check("dave@example.com", "proxy-master", "secret").outcome == LoginOutcome::Ok);
  CHECK(h.directory.calls == std::vector<std::string>{"lookup dave@example.com"});
}

}  // namespace postern::node
