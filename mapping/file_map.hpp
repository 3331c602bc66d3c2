// The users.map format of the file source (DESIGN.md section 4) and its parser.
//
// One mapping a line, fields separated by spaces or tabs:
//
//   KEY NODE [HASH]
//
//   alice@example.com  node1  $6$salt$digest   # an account that can log in
//   bob@example.com    node2                    # routed, but no password here
//   @example.net       node1                    # every other account of a domain
//   *                  node1                    # everything else
//
// KEY is `user@domain` (one account; matched case-insensitively, see login_key),
// `@domain` (every account of that domain) or `*`. NODE is a node name
// `[A-Za-z0-9][A-Za-z0-9._-]*`, at most kMaxNodeNameBytes. HASH, allowed only on
// `user@domain` lines, is a crypt(3) hash: SHA-512 (`$6$`) or yescrypt (`$y$`).
// `#` at the start of a line or after a space or tab starts a comment. Blank
// lines are fine; lines end in LF or CRLF; the last line needs no newline.
//
// A file with any error is rejected as a whole by its user (FileDirectory keeps
// the previous map), so the parser reports every error it finds, one per line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mapping/address.hpp"

namespace postern::mapping {

constexpr std::size_t kMaxNodeNameBytes = 64;
constexpr std::size_t kDefaultMaxMapLineBytes = 4096;

enum class FileMapKeyKind { User, Domain, Any };

struct FileMapEntry {
  FileMapKeyKind kind = FileMapKeyKind::Any;
  // The key as written, with the domain lower-cased: "Alice@example.com",
  // "@example.com" or "*". For a User key this is the canonical address.
  std::string key;
  std::string node;
  std::string hash;  // empty when the line has none
  std::size_t line = 0;
};

// The answer to a lookup. The views point into the FileMap and live as long as it.
struct FileMapMatch {
  std::string_view key;  // FileMapEntry::key of the entry that matched
  std::string_view node;
  std::string_view hash;  // empty when the entry has none (always for non-exact matches)
  bool exact = false;     // true when a `user@domain` line matched
};

class FileMap {
 public:
  // Tries the account's own line, then its domain's `@domain` line, then `*`.
  std::optional<FileMapMatch> lookup(const Address& address) const;

  // Every entry, in line order (for tools and tests).
  std::vector<FileMapEntry> entries() const;

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  friend class FileMapParser;
  // By match key: login_key() for users, "@" + domain, "*".
  std::unordered_map<std::string, FileMapEntry> entries_;
};

struct FileMapError {
  std::size_t line = 0;  // 1-based
  std::string reason;
};

struct FileMapParseResult {
  FileMap map;
  std::vector<FileMapError> errors;  // in line order; empty when the file is good
  bool ok() const { return errors.empty(); }
};

// An incremental parser: feed it the file's bytes in chunks of any size, then
// call finish(). It does no I/O. A line longer than `max_line` bytes (not
// counting its LF or CRLF) is an error, and the rest of it is skipped as it
// arrives, never buffered: the parser holds at most max_line + 1 bytes.
class FileMapParser {
 public:
  explicit FileMapParser(std::size_t max_line = kDefaultMaxMapLineBytes);

  void feed(std::string_view bytes);
  // Ends the input (a last line without a newline counts) and returns what was
  // parsed. The parser is then empty again and may be reused.
  FileMapParseResult finish();

  // Bytes held for the current, unfinished line.
  std::size_t buffered_bytes() const { return line_.size(); }

 private:
  void end_line();
  void parse_line(std::string_view line);
  void error(std::string reason);

  std::size_t max_line_;
  std::string line_;       // the current line so far, at most max_line_ + 1 bytes
  bool skipping_ = false;  // the current line is too long: drop bytes up to its LF
  std::size_t line_no_ = 1;
  FileMapParseResult result_;
};

}  // namespace postern::mapping
