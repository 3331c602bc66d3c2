#include "core/http_message.hpp"

#include <algorithm>
#include <cstring>

namespace postern::core::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

// RFC 9110 5.6.2.
bool is_tchar(unsigned char c) {
  if (is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

// field-vchar / SP / HTAB (RFC 9110 5.5); obs-text (0x80-0xFF) is allowed
// because some clients send UTF-8 in values, and it cannot end a line.
bool is_value_char(unsigned char c) {
  return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `f(item)` for each trimmed, non-empty item of a comma-separated list.
template <typename F>
void for_each_list_item(std::string_view list, F&& f) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

tl::unexpected<HttpError> fail(int status, std::string message) {
  return tl::unexpected(HttpError{status, std::move(message)});
}

// One line of a head: the bytes before its LF, without the CR before it.
struct Line {
  std::string_view text;
  std::size_t next = 0;  // where the line after it starts
  bool complete = false;
};

Line next_line(std::string_view in, std::size_t pos) {
  const std::size_t lf = in.find('\n', pos);
  if (lf == std::string_view::npos) return {in.substr(pos), in.size(), false};
  std::string_view text = in.substr(pos, lf - pos);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return {text, lf + 1, true};
}

// A CR anywhere but right before LF is a bare CR (RFC 9112 2.2): some
// implementations end lines there, others do not, so it is refused.
std::optional<HttpError> check_field_line(std::string_view line, Headers& out, int bad_status) {
  if (line.front() == ' ' || line.front() == '\t')
    return HttpError{bad_status, "obsolete line folding"};
  const std::size_t colon = line.find(':');
  const std::string_view name = line.substr(0, colon);
  for (unsigned char c : name) {
    if (c == '\r') return HttpError{bad_status, "bare CR in header"};
    if (c == ' ' || c == '\t') return HttpError{bad_status, "whitespace before colon"};
    if (!is_tchar(c)) return HttpError{bad_status, "invalid header name"};
  }
  if (colon == std::string_view::npos) return HttpError{bad_status, "header line without colon"};
  if (name.empty()) return HttpError{bad_status, "empty header name"};
  const std::string_view value = line.substr(colon + 1);
  for (unsigned char c : value) {
    if (c == '\r') return HttpError{bad_status, "bare CR in header"};
    if (!is_value_char(c)) return HttpError{bad_status, "control character in header value"};
  }
  out.add(std::string(name), std::string(trim_ows(value)));
  return std::nullopt;
}

// "HTTP/1.1" -> minor version; a major other than 1 is `wrong_major`.
tl::expected<int, HttpError> parse_version(std::string_view v, int bad_status, int wrong_major) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is_digit(v[5]) || v[6] != '.' ||
      !is_digit(v[7])) {
    return fail(bad_status, "malformed HTTP version");
  }
  if (v[5] != '1') return fail(wrong_major, "unsupported HTTP version");
  return v[7] - '0';
}

tl::expected<void, HttpError> parse_request_line(std::string_view line, const Limits& limits,
                                                 RequestHead& head) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return fail(400, "malformed request line");
  head.method = std::string(line.substr(0, sp1));
  for (unsigned char c : head.method)
    if (!is_tchar(c)) return fail(400, "invalid method");
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  const std::string_view target =
      line.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1);
  if (target.size() > limits.max_target) return fail(414, "request target too long");
  if (sp2 == std::string_view::npos || target.empty()) return fail(400, "malformed request line");
  for (unsigned char c : target) {
    if (c == '\r') return fail(400, "bare CR in request line");
    if (c <= 0x20 || c >= 0x7f) return fail(400, "invalid character in request target");
  }
  // Origin-form only, and "*" for OPTIONS: a client that sends absolute-form
  // or authority-form takes us for a forward proxy, which we are not.
  if (target == "*") {
    if (head.method != "OPTIONS") return fail(400, "asterisk-form target outside OPTIONS");
  } else if (target.front() != '/') {
    return fail(400, "request target is not origin-form");
  }
  auto minor = parse_version(line.substr(sp2 + 1), 400, 505);
  if (!minor) return tl::unexpected(minor.error());
  head.minor_version = *minor;
  head.target = std::string(target);
  const std::size_t q = target.find('?');
  head.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) head.query = std::string(target.substr(q + 1));
  return {};
}

tl::expected<void, HttpError> parse_status_line(std::string_view line, const Limits&,
                                                ResponseHead& head) {
  auto minor = parse_version(line.substr(0, 8), 502, 502);
  if (!minor) return tl::unexpected(minor.error());
  head.minor_version = *minor;
  // "HTTP/1.1 200 OK", or "HTTP/1.1 200" from servers that drop the space.
  if (line.size() < 12 || line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) ||
      !is_digit(line[11]) || (line.size() > 12 && line[12] != ' ')) {
    return fail(502, "malformed status line");
  }
  head.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (head.status < 100) return fail(502, "malformed status code");
  const std::string_view reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  for (unsigned char c : reason)
    if (!is_value_char(c)) return fail(502, "control character in reason phrase");
  head.reason = std::string(reason);
  return {};
}

// RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host; an HTTP/1.0
// one at most. Transfer-Encoding in HTTP/1.0 is refused (RFC 9112 6.1: its
// framing cannot be trusted).
tl::expected<void, HttpError> check_request_fields(const RequestHead& head) {
  std::size_t hosts = 0;
  for (const auto& f : head.headers.fields) hosts += iequals(f.name, "host") ? 1 : 0;
  if (hosts > 1) return fail(400, "more than one Host header");
  if (hosts == 0 && head.minor_version >= 1) return fail(400, "missing Host header");
  if (head.minor_version == 0 && head.headers.get("transfer-encoding"))
    return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
  return {};
}

// Both heads share the walk: the first line, then field lines to the blank
// line. Only complete lines are judged, in order, so a head split anywhere
// gives the same answer; the head must fit in max_head bytes.
template <typename Head, typename FirstLine>
tl::expected<std::optional<Parsed<Head>>, HttpError> parse_head(std::string_view in,
                                                                const Limits& limits,
                                                                int bad_status, bool request,
                                                                FirstLine first_line) {
  const bool truncated = in.size() > limits.max_head;
  const std::string_view view = in.substr(0, limits.max_head);
  const int too_large = request ? 431 : 502;
  std::size_t pos = 0;
  if (request) {  // RFC 9112 2.2: empty lines before the request line are skipped
    for (;;) {
      Line l = next_line(view, pos);
      if (!l.complete || !l.text.empty()) break;
      pos = l.next;
    }
  }
  Parsed<Head> parsed;
  Line first = next_line(view, pos);
  if (!first.complete) {
    if (!truncated) return std::nullopt;
    // The target is what makes a request line long (414); anything else is
    // an oversized head.
    const std::size_t sp = first.text.find(' ');
    if (request && sp != std::string_view::npos &&
        first.text.find(' ', sp + 1) == std::string_view::npos) {
      return fail(414, "request target too long");
    }
    return fail(too_large, "header section too large");
  }
  if (auto ok = first_line(first.text, limits, parsed.head); !ok) return tl::unexpected(ok.error());
  pos = first.next;
  for (;;) {
    Line l = next_line(view, pos);
    if (!l.complete) {
      if (!truncated) return std::nullopt;
      return fail(too_large, "header section too large");
    }
    pos = l.next;
    if (l.text.empty()) break;
    if (parsed.head.headers.fields.size() >= limits.max_fields)
      return fail(too_large, "too many header fields");
    if (auto err = check_field_line(l.text, parsed.head.headers, bad_status)) {
      return tl::unexpected(std::move(*err));
    }
  }
  parsed.consumed = pos;
  return parsed;
}

// Content-Length (RFC 9110 8.6): every field, and every item of a list in
// one, must be the same decimal number.
tl::expected<std::optional<std::uint64_t>, HttpError> content_length(const Headers& headers,
                                                                     int bad_status) {
  std::optional<std::uint64_t> length;
  for (const auto& f : headers.fields) {
    if (!iequals(f.name, "content-length")) continue;
    std::string_view list = f.value;
    for (;;) {
      const std::size_t comma = list.find(',');
      const std::string_view item = trim_ows(list.substr(0, comma));
      // At most 18 digits: below 10^18, so no overflow.
      if (item.empty() || item.size() > 18) return fail(bad_status, "invalid Content-Length");
      std::uint64_t n = 0;
      for (unsigned char c : item) {
        if (!is_digit(c)) return fail(bad_status, "invalid Content-Length");
        n = n * 10 + (c - '0');
      }
      if (length && *length != n) return fail(bad_status, "conflicting Content-Length values");
      length = n;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return length;
}

// The transfer codings, lower-cased; the caller decides what they mean. A
// Transfer-Encoding field with no coding in it (empty, blank, or only
// commas) is an error wherever it stands: a recipient that reads such a
// field differently from us (as "no body framing", say) must never see a
// message we accepted, even after an earlier field said "chunked".
tl::expected<std::vector<std::string>, HttpError> transfer_codings(const Headers& headers,
                                                                   int bad_status) {
  std::vector<std::string> codings;
  for (const auto& f : headers.fields) {
    if (!iequals(f.name, "transfer-encoding")) continue;
    const std::size_t before = codings.size();
    for_each_list_item(f.value, [&](std::string_view item) {
      std::string c(item);
      std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) {
        return static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
      });
      codings.push_back(std::move(c));
    });
    if (codings.size() == before) return fail(bad_status, "empty Transfer-Encoding");
  }
  return codings;
}

}  // namespace

const std::string* Headers::get(std::string_view name) const {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return &f.value;
  return nullptr;
}

std::string Headers::joined(std::string_view name) const {
  std::string out;
  for (const auto& f : fields) {
    if (!iequals(f.name, name)) continue;
    if (!out.empty()) out += ", ";
    out += f.value;
  }
  return out;
}

void Headers::add(std::string name, std::string value) {
  fields.push_back({std::move(name), std::move(value)});
}

std::size_t Headers::remove(std::string_view name) {
  const std::size_t before = fields.size();
  std::erase_if(fields, [&](const Header& f) { return iequals(f.name, name); });
  return before - fields.size();
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const auto& f : fields) {
    if (!iequals(f.name, name)) continue;
    for_each_list_item(f.value,
                       [&](std::string_view item) { found = found || iequals(item, token); });
  }
  return found;
}

bool RequestHead::keep_alive() const {
  if (headers.has_token("connection", "close")) return false;
  return minor_version >= 1 || headers.has_token("connection", "keep-alive");
}

bool ResponseHead::keep_alive() const {
  if (headers.has_token("connection", "close")) return false;
  return minor_version >= 1 || headers.has_token("connection", "keep-alive");
}

tl::expected<std::optional<Parsed<RequestHead>>, HttpError> parse_request_head(
    std::string_view in, const Limits& limits) {
  auto r = parse_head<RequestHead>(in, limits, 400, true, parse_request_line);
  if (r && *r) {
    if (auto ok = check_request_fields((*r)->head); !ok) return tl::unexpected(ok.error());
  }
  return r;
}

tl::expected<std::optional<Parsed<ResponseHead>>, HttpError> parse_response_head(
    std::string_view in, const Limits& limits) {
  return parse_head<ResponseHead>(in, limits, 502, false, parse_status_line);
}

tl::expected<Framing, HttpError> request_framing(const RequestHead& head) {
  const auto listed = transfer_codings(head.headers, 400);
  if (!listed) return tl::unexpected(listed.error());
  const auto& codings = *listed;
  auto length = content_length(head.headers, 400);
  if (!length) return tl::unexpected(length.error());
  if (!codings.empty()) {
    // RFC 9112 6.1: both is a smuggling attempt until proven otherwise.
    if (*length) return fail(400, "both Transfer-Encoding and Content-Length");
    if (codings.back() != "chunked") return fail(400, "final transfer coding is not chunked");
    if (codings.size() != 1) return fail(501, "unsupported transfer coding");
    return Framing{Framing::Chunked, 0};
  }
  if (*length) return Framing{Framing::Length, **length};
  return Framing{};
}

tl::expected<Framing, HttpError> response_framing(const ResponseHead& head,
                                                  std::string_view request_method) {
  if (request_method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304)
    return Framing{};
  const auto listed = transfer_codings(head.headers, 502);
  if (!listed) return tl::unexpected(listed.error());
  const auto& codings = *listed;
  auto length = content_length(head.headers, 502);
  if (!length) return tl::unexpected(length.error());
  if (!codings.empty()) {
    if (*length) return fail(502, "both Transfer-Encoding and Content-Length");
    // RFC 9112 6.3 rule 4: a response whose last coding is not chunked runs
    // to the end of the connection.
    if (codings.back() != "chunked") return Framing{Framing::UntilClose, 0};
    if (codings.size() != 1) return fail(502, "unsupported transfer coding");
    return Framing{Framing::Chunked, 0};
  }
  if (*length) return Framing{Framing::Length, **length};
  return Framing{Framing::UntilClose, 0};
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

namespace {

// Values built by our own code could carry a CR or LF from somewhere
// unexpected; on the wire that would start a new header, so they become spaces.
void append_clean(std::string& out, std::string_view s) {
  for (char c : s) out += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
}

void append_fields(std::string& out, const Headers& headers) {
  for (const auto& f : headers.fields) {
    append_clean(out, f.name);
    out += ": ";
    append_clean(out, f.value);
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace

std::string serialize(const ResponseHead& head) {
  std::string out = "HTTP/1.1 " + std::to_string(head.status) + " ";
  append_clean(out, head.reason.empty() ? reason_phrase(head.status) : head.reason);
  out += "\r\n";
  append_fields(out, head.headers);
  return out;
}

std::string serialize(const RequestHead& head) {
  std::string out;
  append_clean(out, head.method);
  out += ' ';
  append_clean(out, head.target);
  out += " HTTP/1.1\r\n";
  append_fields(out, head.headers);
  return out;
}

}  // namespace postern::core::http
