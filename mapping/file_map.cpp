#include "mapping/file_map.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <limits>

#include "core/log.hpp"

namespace postern::mapping {

namespace {

// Keys and node names are echoed in error messages, which end up in logs and
// exceptions: escape them and keep them short.
std::string quoted(std::string_view text) {
  return "\"" + core::sanitize_log_value(text, 64) + "\"";
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string_view key_error_text(AddressError e) {
  switch (e) {
    case AddressError::Empty:
      return "empty";
    case AddressError::TooLong:
      return "too long";
    case AddressError::BadCharacter:
      return "forbidden character (control, space or a second @)";
    case AddressError::EmptyLocal:
      return "empty user part";
    case AddressError::EmptyDomain:
      return "empty domain";
    case AddressError::NoDomain:
      return "expected user@domain, @domain or *";
  }
  return "malformed";
}

struct Key {
  FileMapKeyKind kind;
  std::string match_key;  // what FileMap::lookup searches for
  std::string written;    // FileMapEntry::key
};

tl::expected<Key, std::string> parse_key(std::string_view text) {
  if (text == "*") return Key{FileMapKeyKind::Any, "*", "*"};
  if (text.front() == '@') {
    // A placeholder user part lets parse_login apply the same character, length
    // and lower-casing rules to the domain as it does to a login's.
    auto a = parse_login("x" + std::string(text), "");
    if (!a) return tl::unexpected(std::string(key_error_text(a.error())));
    return Key{FileMapKeyKind::Domain, "@" + a->domain, "@" + a->domain};
  }
  if (text.find('@') == std::string_view::npos) {
    return tl::unexpected(std::string(key_error_text(AddressError::NoDomain)));
  }
  auto a = parse_login(text, "");
  if (!a) return tl::unexpected(std::string(key_error_text(a.error())));
  return Key{FileMapKeyKind::User, login_key(*a), a->full()};
}

bool valid_node_name(std::string_view node) {
  if (node.empty() || node.size() > kMaxNodeNameBytes || !is_alnum(node.front())) return false;
  for (char c : node) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// Only the schemes libxcrypt computes slowly enough to store: SHA-512 and yescrypt.
tl::expected<void, std::string> check_hash(std::string_view hash) {
  if (!hash.starts_with("$6$") && !hash.starts_with("$y$")) {
    return tl::unexpected(
        fmt::format("unknown hash scheme in {}: expected SHA-512 ($6$...) or yescrypt ($y$...)",
                    quoted(hash.substr(0, 8))));
  }
  for (char c : hash) {
    if (c <= 0x20 || c >= 0x7f) return tl::unexpected(std::string("malformed hash: bad byte"));
  }
  auto rest = hash.substr(3);
  auto last = rest.rfind('$');
  if (last == std::string_view::npos || last + 1 == rest.size()) {
    return tl::unexpected(
        std::string("malformed hash: expected $6$salt$digest or $y$params$salt$digest"));
  }
  return {};
}

}  // namespace

std::optional<FileMapMatch> FileMap::lookup(const Address& address) const {
  auto match = [](const FileMapEntry& e) {
    return FileMapMatch{e.key, e.node, e.hash, e.kind == FileMapKeyKind::User};
  };
  if (auto it = entries_.find(login_key(address)); it != entries_.end()) return match(it->second);
  if (auto it = entries_.find("@" + address.domain); it != entries_.end()) {
    return match(it->second);
  }
  if (auto it = entries_.find("*"); it != entries_.end()) return match(it->second);
  return std::nullopt;
}

std::vector<FileMapEntry> FileMap::entries() const {
  std::vector<FileMapEntry> out;
  out.reserve(entries_.size());
  for (const auto& [match_key, entry] : entries_) out.push_back(entry);
  std::sort(out.begin(), out.end(),
            [](const FileMapEntry& a, const FileMapEntry& b) { return a.line < b.line; });
  return out;
}

// The cap keeps max_line_ + 1, the buffer's bound, from overflowing.
FileMapParser::FileMapParser(std::size_t max_line)
    : max_line_(std::min(max_line, std::numeric_limits<std::size_t>::max() - 1)) {}

void FileMapParser::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    auto lf = bytes.find('\n');
    auto part = bytes.substr(0, lf);
    if (!skipping_) {
      // One byte of slack for the CR of a CRLF that may arrive in the next chunk.
      if (line_.size() + part.size() > max_line_ + 1) {
        error(fmt::format("line longer than {} bytes", max_line_));
        skipping_ = true;
        line_.clear();
      } else {
        line_.append(part);
      }
    }
    if (lf == std::string_view::npos) return;
    end_line();
    bytes.remove_prefix(lf + 1);
  }
}

FileMapParseResult FileMapParser::finish() {
  if (!line_.empty() || skipping_) end_line();
  FileMapParseResult out = std::move(result_);
  result_ = FileMapParseResult{};
  line_.clear();
  skipping_ = false;
  line_no_ = 1;
  return out;
}

void FileMapParser::end_line() {
  if (!skipping_) {
    std::string_view line = line_;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.size() > max_line_) {
      error(fmt::format("line longer than {} bytes", max_line_));
    } else {
      parse_line(line);
    }
  }
  skipping_ = false;
  line_.clear();
  ++line_no_;
}

void FileMapParser::error(std::string reason) {
  result_.errors.push_back(FileMapError{line_no_, std::move(reason)});
}

void FileMapParser::parse_line(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) {
      line = line.substr(0, i);
      break;
    }
  }
  std::array<std::string_view, 3> fields;
  std::size_t count = 0;
  bool too_many = false;
  for (std::size_t pos = 0; pos < line.size();) {
    if (is_blank(line[pos])) {
      ++pos;
      continue;
    }
    std::size_t end = pos;
    while (end < line.size() && !is_blank(line[end])) ++end;
    if (count == fields.size()) {
      too_many = true;
      break;
    }
    fields[count++] = line.substr(pos, end - pos);
    pos = end;
  }
  if (count == 0) return;

  auto key = parse_key(fields[0]);
  if (!key) return error(fmt::format("malformed key {}: {}", quoted(fields[0]), key.error()));
  if (count < 2) return error(fmt::format("missing node after key {}", quoted(fields[0])));
  if (!valid_node_name(fields[1])) {
    return error(
        fmt::format("bad node name {}: expected [A-Za-z0-9][A-Za-z0-9._-]*, at most {} bytes",
                    quoted(fields[1]), kMaxNodeNameBytes));
  }
  if (too_many) return error("too many fields: expected KEY NODE [HASH]");
  if (count == 3) {
    if (key->kind != FileMapKeyKind::User) {
      return error(fmt::format("a password hash is allowed only on a user@domain line, not on {}",
                               quoted(fields[0])));
    }
    if (auto ok = check_hash(fields[2]); !ok) return error(ok.error());
  }
  auto& entries = result_.map.entries_;
  if (auto it = entries.find(key->match_key); it != entries.end()) {
    return error(
        fmt::format("duplicate key {} (first on line {})", quoted(fields[0]), it->second.line));
  }
  FileMapEntry entry{key->kind, std::move(key->written), std::string(fields[1]),
                     std::string(count == 3 ? fields[2] : std::string_view()), line_no_};
  entries.emplace(std::move(key->match_key), std::move(entry));
}

}  // namespace postern::mapping
