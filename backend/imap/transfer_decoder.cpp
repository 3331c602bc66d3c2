#include "backend/imap/transfer_decoder.hpp"

#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// A long run of blanks is written out rather than held: only its tail could be
// trailing, and holding it all would let a message grow our memory.
constexpr std::size_t kMaxHeldBlanks = 998;

}  // namespace

std::optional<TransferEncoding> transfer_encoding(std::string_view name) {
  if (name.empty() || name == "7bit" || name == "8bit" || name == "binary") {
    return TransferEncoding::Identity;
  }
  if (name == "base64") return TransferEncoding::Base64;
  if (name == "quoted-printable") return TransferEncoding::QuotedPrintable;
  return std::nullopt;
}

void TransferDecoder::feed(std::string_view in, std::string& out) {
  switch (encoding_) {
    case TransferEncoding::Identity:
      out.append(in);
      break;
    case TransferEncoding::Base64:
      feed_base64(in, out);
      break;
    case TransferEncoding::QuotedPrintable:
      feed_qp(in, out);
      break;
  }
}

void TransferDecoder::feed_base64(std::string_view in, std::string& out) {
  for (char c : in) {
    const int v = base64_value(c);
    if (v >= 0) {
      bits_ = (bits_ << 6) | static_cast<std::uint32_t>(v);
      if (++sextets_ == 4) {
        out += static_cast<char>(bits_ >> 16);
        out += static_cast<char>(bits_ >> 8);
        out += static_cast<char>(bits_);
        bits_ = 0;
        sextets_ = 0;
      }
    } else if (c == '=') {
      // Padding ends the quantum; whatever follows (a concatenated second
      // encoding, as some mailers write) starts a new one.
      finish(out);
    }
  }
}

void TransferDecoder::feed_qp(std::string_view in, std::string& out) {
  for (char c : in) qp_byte(c, out);
}

void TransferDecoder::qp_byte(char c, std::string& out) {
  switch (qp_) {
    case Qp::Equals:
      if (mime::hex_value(c) >= 0) {
        hex_ = c;
        qp_ = Qp::Hex;
      } else if (c == '\r') {
        qp_ = Qp::SoftCr;
      } else if (c == '\n') {
        qp_ = Qp::Text;  // soft line break
      } else if (mime::is_wsp(c)) {
        qp_ = Qp::SoftBlank;
      } else {
        out += '=';
        qp_ = Qp::Text;
        qp_byte(c, out);
      }
      return;
    case Qp::Hex:
      qp_ = Qp::Text;
      if (mime::hex_value(c) >= 0) {
        out += static_cast<char>(mime::hex_value(hex_) * 16 + mime::hex_value(c));
      } else {
        out += '=';
        out += hex_;
        qp_byte(c, out);
      }
      return;
    case Qp::SoftBlank:
      if (mime::is_wsp(c)) return;
      if (c == '\r') {
        qp_ = Qp::SoftCr;
      } else if (c == '\n') {
        qp_ = Qp::Text;
      } else {
        out += '=';
        qp_ = Qp::Text;
        qp_byte(c, out);
      }
      return;
    case Qp::SoftCr:
      qp_ = Qp::Text;
      if (c == '\n') return;
      out += '\r';  // a lone CR after "=" is kept as data
      qp_byte(c, out);
      return;
    case Qp::Text:
      break;
  }
  if (cr_) {
    cr_ = false;
    if (c == '\n') {
      blanks_.clear();  // trailing blanks are transport padding
      out += "\r\n";
      return;
    }
    out += blanks_;
    blanks_.clear();
    out += '\r';
  }
  if (mime::is_wsp(c)) {
    if (blanks_.size() >= kMaxHeldBlanks) {
      out += blanks_;
      blanks_.clear();
    }
    blanks_ += c;
  } else if (c == '\r') {
    cr_ = true;
  } else if (c == '\n') {
    blanks_.clear();  // trailing blanks are transport padding
    out += "\r\n";
  } else {
    out += blanks_;
    blanks_.clear();
    if (c == '=') {
      qp_ = Qp::Equals;
    } else {
      out += c;
    }
  }
}

void TransferDecoder::finish(std::string& out) {
  if (encoding_ == TransferEncoding::Base64) {
    if (sextets_ == 2) {
      out += static_cast<char>(bits_ >> 4);
    } else if (sextets_ == 3) {
      out += static_cast<char>(bits_ >> 10);
      out += static_cast<char>(bits_ >> 2);
    }
    bits_ = 0;
    sextets_ = 0;
    return;
  }
  if (encoding_ != TransferEncoding::QuotedPrintable) return;
  if (qp_ == Qp::Equals || qp_ == Qp::SoftBlank) out += '=';
  if (qp_ == Qp::Hex) {
    out += '=';
    out += hex_;
  }
  if (qp_ == Qp::SoftCr) out += '\r';
  if (cr_) {
    out += blanks_;
    out += '\r';
  }
  // Blanks at the very end are trailing too.
  blanks_.clear();
  cr_ = false;
  qp_ = Qp::Text;
}

}  // namespace postern::node::imap
