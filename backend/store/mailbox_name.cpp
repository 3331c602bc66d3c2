#include "backend/store/mailbox_name.hpp"

#include <cstdint>

namespace postern::node::store {

namespace {

bool equals_inbox(std::string_view level) {
  static constexpr std::string_view kInbox = "INBOX";
  if (level.size() != kInbox.size()) return false;
  for (std::size_t i = 0; i < level.size(); ++i) {
    char c = level[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != kInbox[i]) return false;
  }
  return true;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

StoreResult<std::string> normalize_mailbox_name(std::string_view name) {
  if (!name.empty() && name.back() == kHierarchySeparator) name.remove_suffix(1);
  if (name.empty()) return fail(StoreError::BadArgument);
  if (name.size() > kMaxMailboxNameBytes) return fail(StoreError::Limit);
  if (!is_valid_utf8(name)) return fail(StoreError::BadArgument);
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '*' || c == '%') return fail(StoreError::BadArgument);
  }
  std::size_t depth = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t end = name.find(kHierarchySeparator, start);
    std::string_view level =
        name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (level.empty() || level == "." || level == "..") return fail(StoreError::BadArgument);
    if (++depth > kMaxMailboxDepth) return fail(StoreError::Limit);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  std::string out(name);
  std::size_t first_end = out.find(kHierarchySeparator);
  if (equals_inbox(std::string_view(out).substr(0, first_end))) out.replace(0, 5, "INBOX");
  return out;
}

std::string_view parent_mailbox_name(std::string_view name) {
  std::size_t slash = name.rfind(kHierarchySeparator);
  return slash == std::string_view::npos ? std::string_view() : name.substr(0, slash);
}

bool is_inferior_name(std::string_view name, std::string_view ancestor) {
  return name.size() > ancestor.size() + 1 && name.substr(0, ancestor.size()) == ancestor &&
         name[ancestor.size()] == kHierarchySeparator;
}

std::string inferiors_begin(std::string_view name) {
  std::string s(name);
  s += kHierarchySeparator;
  return s;
}

std::string inferiors_end(std::string_view name) {
  std::string s(name);
  s += static_cast<char>(kHierarchySeparator + 1);
  return s;
}

}  // namespace postern::node::store
