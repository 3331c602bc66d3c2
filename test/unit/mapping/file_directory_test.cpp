#include "mapping/file_directory.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "core/config.hpp"
#include "core/log.hpp"
#include "mapping/password_hash.hpp"

namespace core = postern::core;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using postern::mapping::AuthResult;
using postern::mapping::AuthStatus;
using postern::mapping::DenyReason;
using postern::mapping::FileDirectory;
using postern::mapping::FileSourceConfig;
using postern::mapping::LookupResult;
using postern::mapping::LookupStatus;
using postern::mapping::MembershipResult;
using postern::mapping::MembershipStatus;
using postern::mapping::PasswordScheme;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "postern-file-directory-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path file(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Rewrites the file in place (same inode: the watcher must see size or mtime).
void write_in_place(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// Replaces the file the way editors and deploy tools do: write aside, rename over.
void replace_file(const fs::path& path, const std::string& text) {
  fs::path aside = path;
  aside += ".new";
  write_in_place(aside, text);
  fs::rename(aside, path);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string sha512(const std::string& password) {
  auto h = postern::mapping::hash_password(password, PasswordScheme::Sha512);
  REQUIRE(h);
  return *h;
}

// Starts a call with an EventLoop as `reply` that is not running yet, so an inline
// answer shows up as a result before run(); then runs the loop until the answer.
template <class Result, class Start>
Result await(Start start) {
  core::EventLoop loop;
  std::optional<Result> result;
  start(loop, [&](Result r) {
    result = std::move(r);
    loop.stop();
  });
  CHECK_FALSE(result.has_value());  // never inline
  core::Timer guard(loop, [&] { loop.stop(); });
  guard.arm(10s);
  loop.run();
  REQUIRE(result.has_value());
  return std::move(*result);
}

LookupResult lookup(FileDirectory& dir, std::string_view login) {
  return await<LookupResult>(
      [&](core::Executor& reply, auto done) { dir.lookup(login, reply, std::move(done)); });
}

AuthResult authenticate(FileDirectory& dir, std::string_view login, std::string password) {
  return await<AuthResult>([&](core::Executor& reply, auto done) {
    dir.authenticate(login, core::Secret(std::move(password)), reply, std::move(done));
  });
}

template <class Predicate>
bool wait_until(Predicate predicate, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

struct Fixture {
  TempDir tmp;
  fs::path map_path = tmp.file("users.map");

  std::string sample() {
    return "# test map\n"
           "alice@example.com node1 " +
           sha512("alice-secret") +
           "\n"
           "Bob@Example.com   node2 " +
           *postern::mapping::hash_password("bob-secret", PasswordScheme::Yescrypt) +
           "\n"
           "nohash@example.com node3\n"
           "@example.net node4\n";
  }

  FileDirectory make(const std::string& text) {
    write_in_place(map_path, text);
    return FileDirectory(FileSourceConfig{map_path.string(), 50ms}, "example.com");
  }
};

}  // namespace

TEST_SUITE("file_directory") {
  TEST_CASE_FIXTURE(Fixture, "lookup: exact, @domain and * lines") {
    auto dir = make(sample() + "* node5\n");

    auto alice = lookup(dir, "alice");  // the primary domain fills in
    CHECK(alice.status == LookupStatus::Found);
    CHECK(alice.account.address == "alice@example.com");
    CHECK(alice.account.node == "node1");
    CHECK(alice.account.dn.empty());

    auto bob = lookup(dir, "BOB@EXAMPLE.COM");  // the key as written in the file
    CHECK(bob.status == LookupStatus::Found);
    CHECK(bob.account.address == "Bob@example.com");
    CHECK(bob.account.node == "node2");

    auto domain = lookup(dir, "Zed@Example.NET");  // the login's canonical form
    CHECK(domain.status == LookupStatus::Found);
    CHECK(domain.account.address == "Zed@example.net");
    CHECK(domain.account.node == "node4");

    auto any = lookup(dir, "someone@elsewhere.org");
    CHECK(any.status == LookupStatus::Found);
    CHECK(any.account.address == "someone@elsewhere.org");
    CHECK(any.account.node == "node5");
  }

  TEST_CASE_FIXTURE(Fixture, "lookup: unknown and malformed logins are NotFound") {
    auto dir = make(sample());
    auto unknown = lookup(dir, "carol@example.org");
    CHECK(unknown.status == LookupStatus::NotFound);
    CHECK_FALSE(unknown.detail.empty());
    CHECK(lookup(dir, "carol").status == LookupStatus::NotFound);

    for (std::string_view bad : {"", "a b@example.com", "a@b@example.com", "x@"}) {
      auto r = lookup(dir, bad);
      CHECK(r.status == LookupStatus::NotFound);
      CHECK(r.detail.starts_with("bad login"));
    }
  }

  TEST_CASE_FIXTURE(Fixture, "authenticate: ok, wrong password, unknown user, bad login") {
    auto dir = make(sample() + "* node5\n");

    auto ok = authenticate(dir, "alice", "alice-secret");
    CHECK(ok.status == AuthStatus::Ok);
    CHECK(ok.reason == DenyReason::None);
    CHECK(ok.account.address == "alice@example.com");
    CHECK(ok.account.node == "node1");

    auto yescrypt = authenticate(dir, "bob@EXAMPLE.com", "bob-secret");
    CHECK(yescrypt.status == AuthStatus::Ok);
    CHECK(yescrypt.account.address == "Bob@example.com");

    auto wrong = authenticate(dir, "alice@example.com", "bob-secret");
    CHECK(wrong.status == AuthStatus::Denied);
    CHECK(wrong.reason == DenyReason::WrongPassword);

    auto empty = authenticate(dir, "alice@example.com", "");
    CHECK(empty.status == AuthStatus::Denied);
    CHECK(empty.reason == DenyReason::WrongPassword);

    auto unknown = authenticate(dir, "mallory@example.com", "x");
    CHECK(unknown.status == AuthStatus::Denied);
    CHECK(unknown.reason == DenyReason::UnknownUser);

    // Routes are not accounts: neither a domain line nor * lets anyone log in.
    auto domain_only = authenticate(dir, "zed@example.net", "x");
    CHECK(domain_only.status == AuthStatus::Denied);
    CHECK(domain_only.reason == DenyReason::UnknownUser);
    auto star_only = authenticate(dir, "zed@elsewhere.org", "x");
    CHECK(star_only.reason == DenyReason::UnknownUser);

    auto no_hash = authenticate(dir, "nohash@example.com", "x");
    CHECK(no_hash.status == AuthStatus::Denied);
    CHECK(no_hash.reason == DenyReason::UnknownUser);
    CHECK(no_hash.detail.find("no password hash") != std::string::npos);

    auto bad = authenticate(dir, "al ice", "alice-secret");
    CHECK(bad.status == AuthStatus::Denied);
    CHECK(bad.reason == DenyReason::BadLogin);
  }

  TEST_CASE_FIXTURE(Fixture, "is_member: the file source has no groups") {
    auto dir = make(sample());
    auto r = await<MembershipResult>([&](core::Executor& reply, auto done) {
      dir.is_member("uid=alice", "cn=staff", reply, std::move(done));
    });
    CHECK(r.status == MembershipStatus::NotMember);
    CHECK(r.detail == "the file source has no groups");
  }

  TEST_CASE_FIXTURE(Fixture, "answers arrive on the reply executor's thread") {
    auto dir = make(sample());
    core::LoopThread reply;
    std::promise<std::thread::id> loop_id;
    reply.loop().post([&] { loop_id.set_value(std::this_thread::get_id()); });
    const auto expected = loop_id.get_future().get();

    std::promise<std::thread::id> lookup_id;
    std::promise<std::thread::id> auth_id;
    std::promise<std::thread::id> member_id;
    std::atomic<bool> auth_ok{false};
    dir.lookup("alice", reply.loop(),
               [&](const LookupResult&) { lookup_id.set_value(std::this_thread::get_id()); });
    dir.authenticate("alice", core::Secret("alice-secret"), reply.loop(), [&](const AuthResult& r) {
      auth_ok = r.status == AuthStatus::Ok;
      auth_id.set_value(std::this_thread::get_id());
    });
    dir.is_member("a", "b", reply.loop(), [&](const MembershipResult&) {
      member_id.set_value(std::this_thread::get_id());
    });
    for (auto* p : {&lookup_id, &auth_id, &member_id}) {
      auto f = p->get_future();
      REQUIRE(f.wait_for(10s) == std::future_status::ready);
      CHECK(f.get() == expected);
    }
    CHECK(auth_ok);
  }

  TEST_CASE_FIXTURE(Fixture, "a bad file at start-up throws ConfigError with the first error") {
    write_in_place(map_path, "alice@example.com node1\nbad node1\n* node!\n");
    try {
      FileDirectory bad(FileSourceConfig{map_path.string(), 50ms}, "example.com");
      FAIL("no exception");
    } catch (const core::ConfigError& e) {
      std::string what = e.what();
      CHECK(e.key() == "directory.file.path");
      CHECK(what.find(map_path.string() + ":2: malformed key") != std::string::npos);
      CHECK(what.find("2 errors") != std::string::npos);
    }
  }

  TEST_CASE_FIXTURE(Fixture, "a missing file at start-up throws ConfigError") {
    try {
      FileDirectory absent(FileSourceConfig{tmp.file("absent.map").string(), 50ms}, "example.com");
      FAIL("no exception");
    } catch (const core::ConfigError& e) {
      CHECK(e.key() == "directory.file.path");
      CHECK(std::string(e.what()).find("cannot open") != std::string::npos);
    }
  }

  TEST_CASE_FIXTURE(Fixture, "the map reloads when the file changes") {
    auto dir = make("alice@example.com node1\n");
    CHECK(lookup(dir, "alice").account.node == "node1");
    CHECK(lookup(dir, "carol@example.org").status == LookupStatus::NotFound);

    write_in_place(map_path, "alice@example.com node7\ncarol@example.org node2\n");
    CHECK(wait_until([&] { return lookup(dir, "alice").account.node == "node7"; }));
    CHECK(lookup(dir, "carol@example.org").account.node == "node2");
    CHECK(dir.map()->size() == 2);

    replace_file(map_path, "alice@example.com node8 " + sha512("new-secret") + "\n");
    CHECK(wait_until([&] { return lookup(dir, "alice").account.node == "node8"; }));
    CHECK(lookup(dir, "carol@example.org").status == LookupStatus::NotFound);
    CHECK(authenticate(dir, "alice", "new-secret").status == AuthStatus::Ok);
  }

  TEST_CASE_FIXTURE(Fixture, "a bad or missing new file keeps the old map and logs why") {
    auto dir = make("alice@example.com node1\n");
    const auto log_path = tmp.file("log");
    const auto old_level = core::log_level();
    core::set_log_level(core::LogLevel::Info);
    REQUIRE(core::set_log_file(log_path.string()));

    replace_file(map_path, "alice@example.com node2\nalice@example.com node3\n* bad/node\n");
    bool logged =
        wait_until([&] { return read_file(log_path).find("bad node name") != std::string::npos; });
    std::string log = read_file(log_path);
    CHECK(logged);
    CHECK(log.find("event=file_map_rejected file=" + map_path.string() + " line=2 reason=") !=
          std::string::npos);
    CHECK(log.find(" line=3 reason=") != std::string::npos);
    CHECK(lookup(dir, "alice").account.node == "node1");
    auto old_map = dir.map();

    fs::remove(map_path);
    CHECK(wait_until(
        [&] { return read_file(log_path).find("reason=\"cannot stat") != std::string::npos; }));
    CHECK(lookup(dir, "alice").account.node == "node1");
    CHECK(dir.map() == old_map);

    replace_file(map_path, "alice@example.com node4\n");
    CHECK(wait_until([&] { return lookup(dir, "alice").account.node == "node4"; }));
    CHECK(wait_until([&] {
      return read_file(log_path).find("event=file_map_loaded file=" + map_path.string() +
                                      " entries=1") != std::string::npos;
    }));

    core::set_log_file("");
    core::set_log_level(old_level);
  }

  TEST_CASE_FIXTURE(Fixture, "a directory destroyed at once, before its watcher started") {
    write_in_place(map_path, "* node1\n");
    for (int i = 0; i < 20; ++i) {
      FileDirectory d(FileSourceConfig{map_path.string(), 50ms}, "example.com");
    }
  }

  TEST_CASE_FIXTURE(Fixture, "destroying the directory with logins pending drops their answers") {
    core::EventLoop reply;
    int answers = 0;
    {
      auto dir = make(sample());
      for (int i = 0; i < 6; ++i) {
        dir.authenticate("bob", core::Secret("bob-secret"), reply,
                         [&](const AuthResult&) { ++answers; });
      }
    }
    // Whatever was answered before the destructor is delivered; nothing after.
    core::Timer done(reply, [&] { reply.stop(); });
    done.arm(100ms);
    reply.run();
    CHECK(answers <= 6);
  }
}
