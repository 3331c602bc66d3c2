#include "tools/directory_commands.hpp"

#include <fmt/format.h>

#include <iostream>

#include "core/log.hpp"
#include "mapping/blocking.hpp"
#include "mapping/make_directory.hpp"
#include "tools/exit_codes.hpp"

namespace postern::tools {

namespace {

using namespace postern::mapping;

int exit_code(LookupStatus s) {
  switch (s) {
    case LookupStatus::Found:
      return kExitOk;
    case LookupStatus::NotFound:
      return kExitNoUser;
    case LookupStatus::TempFail:
      return kExitTempFail;
  }
  return kExitSoftware;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

void print_account(const Account& a, std::ostream& out) {
  out << fmt::format("address: {}\nnode: {}\n", a.address, a.node.empty() ? "(none)" : a.node);
  if (!a.dn.empty()) out << fmt::format("dn: {}\n", a.dn);
  out << fmt::format("state: {}\n", account_state_name(a.state));
  if (!a.aliases.empty()) out << fmt::format("aliases: {}\n", join(a.aliases));
  out << fmt::format("services: {}\n", a.services.empty() ? "(all)" : join(a.services));
  if (a.quota_bytes) out << fmt::format("quota: {}\n", *a.quota_bytes);
  for (const auto& [name, values] : a.attributes) {
    for (const auto& v : values) out << fmt::format("attribute: {}: {}\n", name, v);
  }
}

std::string status_word(LookupStatus s) {
  switch (s) {
    case LookupStatus::Found:
      return "found";
    case LookupStatus::NotFound:
      return "notfound";
    case LookupStatus::TempFail:
      return "tempfail";
  }
  return "?";
}

int lookup_many(Directory& dir, core::EventLoop& loop, std::istream& in, std::ostream& out) {
  int worst = kExitOk;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto r = lookup_blocking(dir, loop, line);
    // One line per address: the status word, then key="value" fields. The
    // login is escaped: it is whatever the input held.
    out << status_word(r.status) << " login=\"" << core::sanitize_log_value(line, 512) << '"';
    if (r.status == LookupStatus::Found) {
      out << " node=\"" << r.account.node << "\" address=\"" << r.account.address << '"';
    }
    if (r.stale) out << " stale=1";
    if (!r.detail.empty() && r.status != LookupStatus::Found) {
      out << " detail=\"" << core::sanitize_log_value(r.detail, 512) << '"';
    }
    out << std::endl;  // flushed: a test or script may be waiting for this line
    int code = exit_code(r.status);
    if (code == kExitTempFail || worst == kExitOk) worst = code;
  }
  return worst;
}

}  // namespace

int run_lookup(const DirectoryConfig& config, const std::string& login, std::istream& in,
               std::ostream& out) {
  core::EventLoop loop;
  auto dir = make_directory(config);
  if (login == "-") return lookup_many(*dir, loop, in, out);
  auto r = lookup_blocking(*dir, loop, login);
  switch (r.status) {
    case LookupStatus::Found:
      print_account(r.account, out);
      break;
    case LookupStatus::NotFound:
      out << fmt::format("{}: no such account ({})\n", login, r.detail);
      break;
    case LookupStatus::TempFail:
      out << fmt::format("{}: temporary failure: {}\n", login, r.detail);
      break;
  }
  if (r.stale) out << "note: answered from the cache; the directory did not answer\n";
  return exit_code(r.status);
}

int run_auth(const DirectoryConfig& config, const std::string& login, std::istream& in,
             std::ostream& out) {
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  core::Secret password(std::move(line));
  core::EventLoop loop;
  auto dir = make_directory(config);
  auto r = authenticate_blocking(*dir, loop, login, std::move(password));
  switch (r.status) {
    case AuthStatus::Ok:
      out << fmt::format("{}: accepted, node {}\n", r.account.address, r.account.node);
      return kExitOk;
    case AuthStatus::Denied:
      out << fmt::format("{}: denied: {} ({})\n", login, deny_reason_name(r.reason), r.detail);
      return kExitNoPerm;
    case AuthStatus::TempFail:
      out << fmt::format("{}: temporary failure: {}\n", login, r.detail);
      return kExitTempFail;
  }
  return kExitSoftware;
}

}  // namespace postern::tools
