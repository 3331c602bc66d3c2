// Fills a Postern store with ready-made messages for scripts/bench imap, the
// way delivery would leave them (parsed structure and envelope cached), but
// without a running node and in big batches: populating is not what the
// benchmark measures.
//
//   store_fill ROOT ADDRESS MAILBOX [DIR]
//
// Opens (creating if new) ADDRESS's account under the store root ROOT, creates
// MAILBOX if missing, then appends every regular file of DIR (in name order:
// a Maildir's cur/ works) to it in batches of 1000. Files may have LF or CRLF
// line ends; the store gets CRLF, as it serves. Each message is written to
// ROOT/tmp/ and handed to the store with SourceMode::Move. The internal date
// is the file's mtime. Without DIR only the mailbox is created.
//
// Populating is not measured, so store_fill skips the store's fsyncs and
// syncfs calls (see fsync() below) and makes everything durable with one
// sync() at the end: the fill of 100,000 messages takes seconds, not a fsync
// per message.
//
// Exit 0 on success, 1 on any store or file error (with a message on stderr),
// 64 on bad usage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/mime/imap_format.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "backend/store/store.hpp"

using namespace postern::node;
namespace fs = std::filesystem;

// These definitions take the place of libc's for this program, including the
// store library linked into it and libsqlite3 (the executable's symbols come
// first in dynamic symbol lookup): per-message durability is what the
// benchmark's APPEND figures measure, not what filling needs. main() calls
// sync() before it exits.
extern "C" int fsync(int) {
  return 0;
}
extern "C" int fdatasync(int) {
  return 0;
}
extern "C" int syncfs(int) {  // the store's store_sync "batch" mode
  return 0;
}

namespace {

constexpr std::size_t kBatch = 1000;

// Bare LF -> CRLF; CRLF stays.
std::string to_crlf(const std::string& in) {
  std::string out;
  out.reserve(in.size() + in.size() / 32);
  char prev = 0;
  for (char c : in) {
    if (c == '\n' && prev != '\r') out.push_back('\r');
    out.push_back(c);
    prev = c;
  }
  return out;
}

bool read_file(const fs::path& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat sb {};
  bool ok = ::fstat(fd, &sb) == 0;
  out.resize(ok ? static_cast<std::size_t>(sb.st_size) : 0);
  std::size_t done = 0;
  while (ok && done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return ok;
}

bool write_file(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "store_fill: %s\n", what.c_str());
  return 1;
}

std::vector<fs::path> message_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: store_fill ROOT ADDRESS MAILBOX [DIR]\n");
    return 64;
  }
  const std::string root = argv[1], address = argv[2], mailbox_name = argv[3];
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  fs::create_directories(fs::path(root) / "tmp", ec);
  if (ec) return fail(fmt::format("cannot create {}/tmp: {}", root, ec.message()));

  store::Store st(root);
  auto account = st.account(address);
  if (!account) {
    return fail(fmt::format("account {}: {}", address, store::store_error_name(account.error())));
  }
  auto mailbox = (*account)->find_mailbox(mailbox_name);
  if (!mailbox && mailbox.error() == store::StoreError::NoSuchMailbox) {
    mailbox = (*account)->create_mailbox(mailbox_name);
  }
  if (!mailbox) {
    return fail(
        fmt::format("mailbox {}: {}", mailbox_name, store::store_error_name(mailbox.error())));
  }
  if (argc == 4) {
    ::sync();
    return 0;
  }

  std::vector<fs::path> files;
  try {
    files = message_files(argv[4]);
  } catch (const fs::filesystem_error& e) {
    return fail(e.what());
  }
  std::vector<store::NewMessage> batch;
  batch.reserve(kBatch);
  std::size_t appended = 0, serial = 0;
  auto flush = [&]() -> bool {
    if (batch.empty()) return true;
    auto added = (*account)->append_batch(mailbox->id, batch);
    if (!added) {
      fail(fmt::format("append_batch: {}", store::store_error_name(added.error())));
      return false;
    }
    appended += batch.size();
    batch.clear();
    return true;
  };
  std::string raw;
  for (const auto& file : files) {
    if (!read_file(file, raw)) return fail(fmt::format("cannot read {}", file.string()));
    const std::string bytes = to_crlf(raw);
    const auto part = mime::parse_message(bytes);
    struct stat sb {};
    if (::stat(file.c_str(), &sb) != 0) return fail(fmt::format("cannot stat {}", file.string()));

    store::NewMessage m;
    m.source_path = fmt::format("{}/tmp/fill-{}-{}", root, ::getpid(), serial++);
    if (!write_file(m.source_path, bytes)) {
      return fail(fmt::format("cannot write {}", m.source_path));
    }
    m.source_mode = store::SourceMode::Move;
    m.internal_date.seconds = sb.st_mtime;
    m.size = bytes.size();
    m.meta = {mime::serialize(part), mime::envelope_to_imap(part.envelope), {}};
    batch.push_back(std::move(m));
    if (batch.size() == kBatch && !flush()) return 1;
  }
  if (!flush()) return 1;
  ::sync();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  std::printf("store_fill: %zu messages into %s %s in %.1f s\n", appended, address.c_str(),
              mailbox_name.c_str(), took.count());
  return 0;
}
