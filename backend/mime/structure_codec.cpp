#include "backend/mime/structure_codec.hpp"

#include <cstdint>
#include <limits>

namespace postern::node::mime {

namespace {

constexpr std::string_view kMagic = "PM\x01";
// Deeper than any parser limit we would configure; bounds the recursion.
constexpr unsigned kMaxDepth = 250;

class Writer {
 public:
  void raw(std::string_view bytes) { out_ += bytes; }

  void number(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7F) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }

  void str(std::string_view s) {
    number(s.size());
    out_ += s;
  }

  void opt(const std::optional<std::string>& s) {
    out_ += s ? '\x01' : '\x00';
    if (s) str(*s);
  }

  void params(const Params& p) {
    number(p.size());
    for (const auto& [name, value] : p) {
      str(name);
      str(value);
    }
  }

  void addresses(const std::vector<Address>& list) {
    number(list.size());
    for (const auto& a : list) {
      opt(a.name);
      opt(a.mailbox);
      opt(a.host);
    }
  }

  void envelope(const Envelope& e) {
    opt(e.date);
    opt(e.subject);
    for (const auto* list : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
      addresses(*list);
    }
    opt(e.in_reply_to);
    opt(e.message_id);
    opt(e.references);
  }

  void part(const MessagePart& p) {
    number(p.header_offset);
    number(p.body_offset);
    number(p.end_offset);
    number(p.body_lines);
    str(p.type);
    str(p.subtype);
    params(p.params);
    opt(p.id);
    opt(p.description);
    str(p.encoding);
    opt(p.md5);
    opt(p.disposition);
    params(p.disposition_params);
    number(p.language.size());
    for (const auto& tag : p.language) str(tag);
    opt(p.location);
    const bool has_envelope = !(p.envelope == Envelope{});
    out_ += has_envelope ? '\x01' : '\x00';
    if (has_envelope) envelope(p.envelope);
    number(p.children.size());
    for (const auto& child : p.children) part(child);
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Every read checks the remaining input; the first failure sticks.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }

  bool fail() {
    ok_ = false;
    return false;
  }

  bool literal(std::string_view expected) {
    if (!in_.starts_with(expected)) return fail();
    in_.remove_prefix(expected.size());
    return true;
  }

  bool number(std::uint64_t& v) {
    v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return fail();
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return fail();
  }

  bool u32(std::uint32_t& v) {
    std::uint64_t n = 0;
    if (!number(n) || n > std::numeric_limits<std::uint32_t>::max()) return fail();
    v = static_cast<std::uint32_t>(n);
    return true;
  }

  // A count of items that take at least `min_bytes` each: more than the input
  // could hold is corrupt (and must not drive a huge reserve or loop).
  bool count(std::size_t& n, std::size_t min_bytes) {
    std::uint64_t v = 0;
    if (!number(v) || v > in_.size() / min_bytes) return fail();
    n = static_cast<std::size_t>(v);
    return true;
  }

  bool str(std::string& s) {
    std::uint64_t n = 0;
    if (!number(n) || n > in_.size()) return fail();
    s.assign(in_.substr(0, static_cast<std::size_t>(n)));
    in_.remove_prefix(static_cast<std::size_t>(n));
    return true;
  }

  bool flag(bool& b) {
    if (in_.empty() || static_cast<unsigned char>(in_.front()) > 1) return fail();
    b = in_.front() == '\x01';
    in_.remove_prefix(1);
    return true;
  }

  bool opt(std::optional<std::string>& s) {
    bool present = false;
    if (!flag(present)) return false;
    if (!present) {
      s.reset();
      return true;
    }
    s.emplace();
    return str(*s);
  }

  bool params(Params& p) {
    std::size_t n = 0;
    if (!count(n, 2)) return false;
    p.resize(n);
    for (auto& [name, value] : p) {
      if (!str(name) || !str(value)) return false;
    }
    return true;
  }

  bool addresses(std::vector<Address>& list) {
    std::size_t n = 0;
    if (!count(n, 3)) return false;
    list.resize(n);
    for (auto& a : list) {
      if (!opt(a.name) || !opt(a.mailbox) || !opt(a.host)) return false;
    }
    return true;
  }

  bool envelope(Envelope& e) {
    if (!opt(e.date) || !opt(e.subject)) return false;
    for (auto* list : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
      if (!addresses(*list)) return false;
    }
    return opt(e.in_reply_to) && opt(e.message_id) && opt(e.references);
  }

  bool part(MessagePart& p, unsigned depth) {
    if (depth > kMaxDepth) return fail();
    std::size_t languages = 0;
    if (!number(p.header_offset) || !number(p.body_offset) || !number(p.end_offset) ||
        !u32(p.body_lines) || !str(p.type) || !str(p.subtype) || !params(p.params) || !opt(p.id) ||
        !opt(p.description) || !str(p.encoding) || !opt(p.md5) || !opt(p.disposition) ||
        !params(p.disposition_params) || !count(languages, 1)) {
      return false;
    }
    p.language.resize(languages);
    for (auto& tag : p.language) {
      if (!str(tag)) return false;
    }
    bool has_envelope = false;
    if (!opt(p.location) || !flag(has_envelope)) return false;
    if (has_envelope && !envelope(p.envelope)) return false;
    std::size_t children = 0;
    if (!count(children, 17)) return false;  // an empty part takes 17 bytes
    p.children.resize(children);
    for (auto& child : p.children) {
      if (!part(child, depth + 1)) return false;
    }
    return true;
  }

 private:
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

std::string serialize(const MessagePart& root) {
  Writer w;
  w.raw(kMagic);
  w.part(root);
  return w.take();
}

std::optional<MessagePart> deserialize(std::string_view blob) {
  Reader r(blob);
  MessagePart root;
  if (!r.literal(kMagic) || !r.part(root, 0) || !r.at_end()) return std::nullopt;
  return root;
}

}  // namespace postern::node::mime
