// Streaming Content-Transfer-Encoding decoders (RFC 2045 section 6) for FETCH
// BINARY (RFC 3516) and for searching body text: fed the encoded body in
// chunks of any size, they append the decoded bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postern::node::imap {

enum class TransferEncoding { Identity, Base64, QuotedPrintable };

// "7bit", "8bit", "binary" (and "" for a missing field) are Identity; nullopt
// for an encoding this server cannot decode ("x-uuencode"...): BINARY then
// answers NO [UNKNOWN-CTE]. `name` is lower-case, as mime::MessagePart holds it.
std::optional<TransferEncoding> transfer_encoding(std::string_view name);

// Lenient, as RFC 2045 asks of readers: base64 ignores characters outside its
// alphabet and stops a quantum at '='; quoted-printable keeps a malformed "="
// sequence as written, drops trailing blanks before a line end and writes
// every line end as CRLF. The result never depends on how the input is cut.
class TransferDecoder {
 public:
  explicit TransferDecoder(TransferEncoding encoding) : encoding_(encoding) {}

  void feed(std::string_view in, std::string& out);
  // Flushes what is pending at the end of the input. The decoder may then be reused.
  void finish(std::string& out);

 private:
  void feed_base64(std::string_view in, std::string& out);
  void feed_qp(std::string_view in, std::string& out);
  void qp_byte(char c, std::string& out);

  TransferEncoding encoding_;
  // base64: sextets of the current quantum.
  std::uint32_t bits_ = 0;
  unsigned sextets_ = 0;
  // quoted-printable
  enum class Qp { Text, Equals, Hex, SoftBlank, SoftCr } qp_ = Qp::Text;
  char hex_ = 0;        // Qp::Hex: the first digit
  bool cr_ = false;     // a CR was seen in Text: LF may follow
  std::string blanks_;  // blanks not yet written (dropped before a line end)
};

}  // namespace postern::node::imap
