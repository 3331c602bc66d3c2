// Shared helpers for the store tests: a real temporary directory holding a
// store root and a spool for message files.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "backend/store/store.hpp"

namespace postern::node::store::test {

namespace fs = std::filesystem;

class TempDir {
 public:
  explicit TempDir(const fs::path& base = fs::temp_directory_path()) {
    std::string tmpl = (base / "postern-store-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A store root plus a spool directory on the same filesystem.
class StoreFixture {
 public:
  StoreFixture() {
    fs::create_directories(root());
    fs::create_directories(spool());
  }
  std::string root() const { return (dir_.path() / "store").string(); }
  std::string spool() const { return (dir_.path() / "spool").string(); }

  // Writes `body` to a new spool file and describes it as a NewMessage.
  NewMessage message(const std::string& body, FlagBits flags = 0,
                     std::vector<std::string> keywords = {}) {
    std::string path = spool() + "/m" + std::to_string(counter_++);
    std::ofstream out(path, std::ios::binary);
    out << body;
    out.close();
    REQUIRE(out.good());
    NewMessage m;
    m.source_path = path;
    m.flags = flags;
    m.keywords = std::move(keywords);
    m.internal_date = InternalDate{1700000000 + counter_, 60};
    m.size = body.size();
    return m;
  }

 private:
  TempDir dir_;
  int counter_ = 0;
};

inline std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  off_t offset = 0;
  while ((n = ::pread(fd, buf, sizeof buf, offset)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    offset += n;
  }
  return out;
}

// Message files currently under the account's msg/ directory.
inline std::vector<fs::path> message_files(const std::string& account_dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::recursive_directory_iterator(account_dir + "/msg")) {
    if (entry.is_regular_file()) out.push_back(entry.path());
  }
  return out;
}

inline MailboxId mailbox_id(AccountStore& account, const std::string& name) {
  auto info = account.find_mailbox(name);
  REQUIRE(info.has_value());
  return info->id;
}

inline std::vector<Uid> uids_of(const MessageList& list) {
  std::vector<Uid> out;
  for (const MessageInfo& m : list.messages) out.push_back(m.uid);
  return out;
}

}  // namespace postern::node::store::test
