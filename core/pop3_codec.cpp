#include "core/pop3_codec.hpp"

#include <cstring>

namespace postern::core::pop3 {

std::string_view codec_status_name(CodecStatus s) {
  switch (s) {
    case CodecStatus::NeedMore:
      return "need_more";
    case CodecStatus::Command:
      return "command";
    case CodecStatus::Line:
      return "line";
    case CodecStatus::TooLong:
      return "too_long";
  }
  return "?";
}

void Pop3Codec::reset() {
  line_.clear();
  skipping_ = false;
  raw_line_ = false;
}

CodecResult Pop3Codec::feed(std::string_view bytes) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const char* start = bytes.data() + pos;
    const auto* lf = static_cast<const char*>(std::memchr(start, '\n', bytes.size() - pos));
    const std::size_t chunk =
        lf != nullptr ? static_cast<std::size_t>(lf - start) : bytes.size() - pos;
    if (skipping_) {
      pos += chunk;
      if (lf == nullptr) break;
      ++pos;  // the LF that ends the skipped line
      skipping_ = false;
      continue;
    }
    // Content may be limit() bytes plus a CR: the first byte beyond that makes
    // the line too long, at the same byte whatever the chunking.
    std::size_t bad = std::string_view::npos;
    const std::size_t max = limit();
    if (line_.size() > max) {
      if (chunk > 0) bad = 0;
    } else if (std::size_t k = max - line_.size(); k < chunk) {
      if (start[k] != '\r') {
        bad = k;
      } else if (k + 1 < chunk) {
        bad = k + 1;
      }
    }
    if (bad != std::string_view::npos) {
      pos += bad + 1;
      line_.clear();
      skipping_ = true;
      raw_line_ = false;
      CodecResult r;
      r.status = CodecStatus::TooLong;
      r.consumed = pos;
      return r;
    }
    line_.append(start, chunk);
    pos += chunk;
    if (lf == nullptr) break;
    ++pos;
    return complete(pos);
  }
  return CodecResult{CodecStatus::NeedMore, bytes.size(), {}, {}};
}

CodecResult Pop3Codec::complete(std::size_t consumed) {
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  CodecResult r;
  r.consumed = consumed;
  if (raw_line_) {
    raw_line_ = false;
    r.status = CodecStatus::Line;
    r.line = std::move(line_);
  } else {
    r.status = CodecStatus::Command;
    r.command = split_command(line_);
  }
  line_.clear();
  return r;
}

Pop3Command split_command(std::string_view line) {
  Pop3Command c;
  std::size_t sp = line.find(' ');
  std::string_view keyword = line.substr(0, sp);
  c.name.reserve(keyword.size());
  for (char ch : keyword) c.name += (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 32) : ch;
  if (sp == std::string_view::npos) return c;
  c.rest = std::string(line.substr(sp + 1));
  std::string_view tail = line.substr(sp + 1);
  while (!tail.empty()) {
    std::size_t b = tail.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    tail.remove_prefix(b);
    std::size_t e = tail.find(' ');
    c.args.emplace_back(tail.substr(0, e));
    if (e == std::string_view::npos) break;
    tail.remove_prefix(e);
  }
  return c;
}

}  // namespace postern::core::pop3
