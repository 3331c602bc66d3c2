// BodyReader of core/http_message.hpp: the framing of a message body
// (RFC 9112 section 6 and 7.1), walked without copying.
#include "core/http_message.hpp"

namespace postern::core::http {

namespace {

// Chunk sizes above this are refused: no body we carry comes near, and it
// keeps the arithmetic far from overflow.
constexpr std::uint64_t kMaxChunkSize = std::uint64_t{1} << 40;

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

tl::unexpected<HttpError> bad(std::string message) {
  return tl::unexpected(HttpError{400, std::move(message)});
}

// chunk-size [ BWS ";" chunk-ext ], the line without its CRLF.
tl::expected<std::uint64_t, HttpError> parse_chunk_size(std::string_view line) {
  std::size_t i = 0;
  std::uint64_t size = 0;
  for (; i < line.size() && hex_value(static_cast<unsigned char>(line[i])) >= 0; ++i) {
    size = size * 16 + static_cast<std::uint64_t>(hex_value(static_cast<unsigned char>(line[i])));
    if (size > kMaxChunkSize) return bad("chunk size too large");
  }
  if (i == 0) return bad("invalid chunk size");
  std::size_t j = i;
  while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
  if (j < line.size() && line[j] != ';') return bad("invalid chunk size");
  if (j == line.size() && j != i) return bad("whitespace after chunk size");
  for (; j < line.size(); ++j) {
    const auto c = static_cast<unsigned char>(line[j]);
    if (c != '\t' && (c < 0x20 || c == 0x7f)) return bad("control character in chunk extension");
  }
  return size;
}

// A trailer field: name ":" value, the same characters as a header field.
bool valid_trailer(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (i < colon && (c <= 0x20 || c >= 0x7f)) return false;
    if (i > colon && c != '\t' && (c < 0x20 || c == 0x7f)) return false;
  }
  return true;
}

}  // namespace

BodyReader::BodyReader(Framing framing, std::size_t max_line)
    : framing_(framing), max_line_(max_line) {
  switch (framing_.kind) {
    case Framing::None:
      state_ = State::Done;
      break;
    case Framing::Length:
      remaining_ = framing_.length;
      state_ = remaining_ == 0 ? State::Done : State::Data;
      break;
    case Framing::UntilClose:
      state_ = State::Data;
      break;
    case Framing::Chunked:
      state_ = State::ChunkSize;
      break;
  }
  done_ = state_ == State::Done;
}

void BodyReader::end_of_input() {
  if (framing_.kind == Framing::UntilClose) {
    state_ = State::Done;
    done_ = true;
  }
}

// Lines (chunk sizes, trailers) are taken only whole, and must end in CRLF:
// a bare LF there is where front and back ends have disagreed before
// (chunk smuggling), so it is an error rather than a line end. An incomplete
// line is left unconsumed for the caller to feed again with more bytes.
tl::expected<BodyReader::Step, HttpError> BodyReader::feed(std::string_view in) {
  Step step;
  std::size_t pos = 0;
  auto take_data = [&](std::uint64_t n) {
    if (n == 0) return;
    step.data.push_back(in.substr(pos, n));
    pos += n;
    body_bytes_ += n;
  };
  while (pos < in.size() && state_ != State::Done) {
    const std::string_view rest = in.substr(pos);
    switch (state_) {
      case State::Data: {
        if (framing_.kind == Framing::UntilClose) {
          take_data(rest.size());
          break;
        }
        const std::uint64_t n = std::min<std::uint64_t>(remaining_, rest.size());
        take_data(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::Done;
        break;
      }
      case State::ChunkSize:
      case State::Trailers: {
        const std::size_t lf = rest.find('\n');
        const std::uint64_t used = state_ == State::Trailers ? remaining_ : 0;
        const std::uint64_t length = lf == std::string_view::npos ? rest.size() : lf + 1;
        if (used + length > max_line_ + 2) {
          return bad(state_ == State::ChunkSize ? "chunk size line too long"
                                                : "trailer section too large");
        }
        if (lf == std::string_view::npos) {
          step.consumed = pos;
          return step;  // wait for the rest of the line
        }
        if (lf == 0 || rest[lf - 1] != '\r') return bad("chunk line not ended by CRLF");
        const std::string_view line = rest.substr(0, lf - 1);
        if (line.find('\r') != std::string_view::npos) return bad("bare CR in chunked body");
        pos += lf + 1;
        if (state_ == State::Trailers) {
          if (line.empty()) {
            state_ = State::Done;
          } else if (!valid_trailer(line)) {
            return bad("invalid trailer field");
          } else {
            remaining_ += lf + 1;
          }
          break;
        }
        auto size = parse_chunk_size(line);
        if (!size) return tl::unexpected(size.error());
        remaining_ = *size;
        state_ = remaining_ == 0 ? State::Trailers : State::ChunkData;
        break;
      }
      case State::ChunkData: {
        const std::uint64_t n = std::min<std::uint64_t>(remaining_, rest.size());
        take_data(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::ChunkDataEnd;
        break;
      }
      case State::ChunkDataEnd:
        if (rest[0] != '\r') return bad("chunk data not followed by CRLF");
        if (rest.size() < 2) {
          step.consumed = pos;
          return step;
        }
        if (rest[1] != '\n') return bad("chunk data not followed by CRLF");
        pos += 2;
        state_ = State::ChunkSize;
        break;
      case State::Done:
        break;
    }
  }
  done_ = state_ == State::Done;
  step.consumed = pos;
  return step;
}

}  // namespace postern::core::http
