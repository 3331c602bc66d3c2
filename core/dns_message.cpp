#include "core/dns_message.hpp"

#include <algorithm>

namespace postern::core {
namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr int kTypeSoa = 6;

// A cursor over the message; every read checks the bounds and a failed read
// poisons the cursor, so callers test ok() once after a group of reads.
class Reader {
 public:
  explicit Reader(std::span<const unsigned char> m) : m_(m) {}
  bool ok() const { return ok_; }
  std::size_t pos() const { return pos_; }
  void seek(std::size_t p) {
    if (p <= m_.size())
      pos_ = p;
    else
      ok_ = false;
  }

  std::uint16_t u16() {
    if (!need(2)) return 0;
    std::uint16_t v = static_cast<std::uint16_t>((m_[pos_] << 8) | m_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  std::uint32_t u32() {
    std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  // Skips a name in place: labels up to a zero byte or a compression pointer
  // (which ends the name where it stands, RFC 1035 section 4.1.4).
  void skip_name() {
    for (int labels = 0; ok_ && labels < 128; ++labels) {
      if (!need(1)) return;
      unsigned len = m_[pos_];
      if (len == 0) {
        pos_ += 1;
        return;
      }
      if ((len & 0xC0) == 0xC0) {
        if (need(2)) pos_ += 2;
        return;
      }
      if ((len & 0xC0) != 0 || !need(1 + len)) {
        ok_ = false;
        return;
      }
      pos_ += 1 + len;
    }
    ok_ = false;
  }
  void skip(std::size_t n) {
    if (need(n)) pos_ += n;
  }

 private:
  bool need(std::size_t n) {
    if (ok_ && m_.size() - pos_ >= n) return true;
    ok_ = false;
    return false;
  }
  std::span<const unsigned char> m_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

struct Record {
  int type;
  std::uint32_t ttl;
  std::size_t rdata;  // offset of the RDATA
  std::size_t rdlength;
};

// Calls `fn(Record)` for each record of the answer (section 1) or the
// authority (section 2) section; false when the message is malformed.
template <class Fn>
bool for_each_record(std::span<const unsigned char> m, int section, Fn fn) {
  if (m.size() < kHeaderSize) return false;
  Reader r(m);
  r.seek(4);
  unsigned qd = r.u16(), an = r.u16(), ns = r.u16();
  r.seek(kHeaderSize);  // past ARCOUNT
  for (unsigned i = 0; i < qd && r.ok(); ++i) {
    r.skip_name();
    r.skip(4);
  }
  unsigned skip_count = section == 1 ? 0 : an;
  unsigned count = section == 1 ? an : ns;
  for (unsigned i = 0; i < skip_count + count && r.ok(); ++i) {
    r.skip_name();
    Record rec{};
    rec.type = r.u16();
    r.skip(2);  // class
    rec.ttl = r.u32();
    rec.rdlength = r.u16();
    rec.rdata = r.pos();
    r.skip(rec.rdlength);
    if (r.ok() && i >= skip_count) fn(rec);
  }
  return r.ok();
}

}  // namespace

std::optional<std::uint32_t> dns_answer_ttl(std::span<const unsigned char> message, int rr_type) {
  std::optional<std::uint32_t> ttl;
  for_each_record(message, 1, [&](const Record& rec) {
    if (rec.type == rr_type) ttl = std::min(ttl.value_or(rec.ttl), rec.ttl);
  });
  return ttl;
}

std::optional<std::uint32_t> dns_negative_ttl(std::span<const unsigned char> message) {
  std::optional<std::uint32_t> ttl;
  for_each_record(message, 2, [&](const Record& rec) {
    if (rec.type != kTypeSoa || ttl) return;
    Reader r(message.first(rec.rdata + rec.rdlength));
    r.seek(rec.rdata);
    r.skip_name();  // MNAME
    r.skip_name();  // RNAME
    r.skip(16);     // SERIAL, REFRESH, RETRY, EXPIRE
    std::uint32_t minimum = r.u32();
    if (r.ok()) ttl = std::min(rec.ttl, minimum);
  });
  return ttl;
}

std::optional<std::string> normalize_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  out.reserve(name.size());
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else if (++label > 63 || c <= ' ' || c >= 0x7f || c == '\\') {
      return std::nullopt;
    }
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

}  // namespace postern::core
