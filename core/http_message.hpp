// HTTP/1.1 message heads and body framing (RFC 9110, RFC 9112) as pure
// functions over bytes: no sockets, no allocation beyond the parsed result.
// Both tiers use them: the node's WebMail server reads requests and writes
// responses; the proxy reads requests from browsers and responses from nodes,
// and streams bodies between them with BodyReader.
//
// Strict where leniency is a smuggling risk (RFC 9112 section 6.3, 11.2):
// a request with both Transfer-Encoding and Content-Length, a Content-Length
// that is not one decimal number (or several that differ), a Transfer-Encoding
// other than a final "chunked", whitespace before a header's colon, a bare CR,
// obs-fold, or a control character in a field value is an error, never a guess.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace postern::core::http {

struct Header {
  std::string name;   // as received (compare case-insensitively)
  std::string value;  // leading and trailing whitespace removed
};

struct Headers {
  std::vector<Header> fields;
  // First field named `name` (case-insensitive), or nullptr.
  const std::string* get(std::string_view name) const;
  // Every value of `name`, joined with ", " (RFC 9110 5.3); "" if absent.
  std::string joined(std::string_view name) const;
  void add(std::string name, std::string value);
  // Removes every field named `name`; returns how many went.
  std::size_t remove(std::string_view name);
  // Whether the comma-separated list in `name` holds `token` (case-insensitive),
  // as for Connection: close.
  bool has_token(std::string_view name, std::string_view token) const;
};

struct RequestHead {
  std::string method;     // case-sensitive token ("GET", "POST" ...)
  std::string target;     // request-target as received, origin-form "/path?query"
  std::string path;       // target before '?', still percent-encoded
  std::string query;      // after '?', without it; "" when none
  int minor_version = 1;  // HTTP/1.<minor>
  Headers headers;
  // HTTP/1.1 without "Connection: close", or HTTP/1.0 with "keep-alive".
  bool keep_alive() const;
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  int minor_version = 1;
  Headers headers;
  bool keep_alive() const;
};

// Why a head could not be parsed: the status to answer with (400 Bad Request,
// 414 URI Too Long, 431 Request Header Fields Too Large, 501 Not Implemented
// for an unknown Transfer-Encoding, 505 for a version other than 1.x) and a
// short text for the log and the error page.
struct HttpError {
  int status = 400;
  std::string message;
};

struct Limits {
  std::size_t max_head = 16 * 1024;  // request/status line + every field + CRLFs
  std::size_t max_target = 8 * 1024;
  std::size_t max_fields = 100;
};

// A parsed head and how many bytes of the input it took (through the blank
// line). nullopt: the head is not complete yet (and within the limits).
template <typename Head>
struct Parsed {
  Head head;
  std::size_t consumed = 0;
};

// Reads a request head from the start of `in`. Empty lines before the request
// line are skipped (RFC 9112 2.2). Only origin-form and asterisk-form targets
// ("*" for OPTIONS) are accepted; absolute-form is a 400 (we are no forward proxy).
// Also a 400: an HTTP/1.1 request without exactly one Host, an HTTP/1.0 one
// with several Hosts or with Transfer-Encoding (RFC 9112 3.2, 6.1). Lines of
// a head may end in a bare LF (RFC 9112 2.2); chunked framing wants CRLF.
// Pure: the caller keeps the bytes and calls again with more (a head is
// judged only by complete lines, so the answer never depends on how the
// bytes arrived); at most max_head bytes are looked at.
tl::expected<std::optional<Parsed<RequestHead>>, HttpError> parse_request_head(
    std::string_view in, const Limits& limits = {});

tl::expected<std::optional<Parsed<ResponseHead>>, HttpError> parse_response_head(
    std::string_view in, const Limits& limits = {});

// How a message body is delimited.
struct Framing {
  enum Kind { None, Length, Chunked, UntilClose } kind = None;
  std::uint64_t length = 0;  // Kind::Length
};

// A request's body framing (RFC 9112 6.3): Chunked, Length, or None.
tl::expected<Framing, HttpError> request_framing(const RequestHead& head);
// A response's, given the request's method: None for HEAD, 1xx, 204 and 304;
// UntilClose when neither Content-Length nor chunked is given.
tl::expected<Framing, HttpError> response_framing(const ResponseHead& head,
                                                  std::string_view request_method);

// Walks a body incrementally. feed() is given whatever bytes have arrived
// (possibly past the body's end) and reports, per call, which of them are body
// data (decoded, for chunked) and how many input bytes it took; bytes after
// the end belong to the next message. Chunk extensions are ignored, trailers
// are read and dropped; a chunk-size line or trailer section longer than
// `max_line` is an error.
class BodyReader {
 public:
  explicit BodyReader(Framing framing, std::size_t max_line = 4096);

  struct Step {
    std::size_t consumed = 0;  // input bytes used by this call
    // The decoded data in this call's input, as slices of it (several for
    // chunked input holding more than one chunk).
    std::vector<std::string_view> data;
  };
  // An error (400, with a message) takes the whole call: data slices found
  // before it in the same input are not reported, and the body is broken.
  tl::expected<Step, HttpError> feed(std::string_view in);
  // For UntilClose: the peer closed, so the body is complete.
  void end_of_input();

  bool done() const { return done_; }
  // Body bytes seen so far (decoded).
  std::uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State { Data, ChunkSize, ChunkData, ChunkDataEnd, Trailers, Done };
  Framing framing_;
  std::size_t max_line_;
  State state_ = State::Data;
  std::uint64_t remaining_ = 0;
  std::uint64_t body_bytes_ = 0;
  bool done_ = false;
};

// The status line's standard reason phrase ("Not Found"), "" when unknown.
std::string_view reason_phrase(int status);

// Builds "HTTP/1.1 <status> <reason>\r\n" + the fields + "\r\n".
std::string serialize(const ResponseHead& head);
// Builds "<method> <target> HTTP/1.1\r\n" + the fields + "\r\n".
std::string serialize(const RequestHead& head);

// Percent-decoding of a path segment or query value ("%2F" -> "/"; '+' stays
// '+' in paths, is a space in query values when `plus_is_space`). nullopt on a
// malformed escape.
std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space = false);
std::string percent_encode(std::string_view in);  // unreserved characters kept
// The value of `name` in an application/x-www-form-urlencoded query, decoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// The value of cookie `name` in a Cookie header (RFC 6265 5.4), or nullopt.
std::optional<std::string> cookie_value(const Headers& headers, std::string_view name);

}  // namespace postern::core::http
