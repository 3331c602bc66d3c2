#include "backend/webmail/http_response.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace postern::node::webmail {

namespace {

bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

Response json_response(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json; charset=utf-8");
  // Invalid UTF-8 from a message is replaced rather than failing the reply.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::string_view error_code(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "auth";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method";
    case 413:
      return "too_large";
    case 415:
      return "media_type";
    case 421:
      return "wrong_node";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "bad_request";
  }
}

Response error_response(int status, std::string_view code, std::string_view message) {
  Response r = json_response(status, {{"error", code}, {"message", message}});
  if (status == 503) r.headers.add("Retry-After", "5");
  return r;
}

void add_security_headers(core::http::Headers& headers) {
  if (!headers.get("X-Content-Type-Options")) headers.add("X-Content-Type-Options", "nosniff");
  if (!headers.get("Referrer-Policy")) headers.add("Referrer-Policy", "no-referrer");
  if (!headers.get("X-Frame-Options")) headers.add("X-Frame-Options", "SAMEORIGIN");
}

std::string message_body_csp(bool remote_images) {
  // The sandbox directive keeps body.html sandboxed even when opened as a
  // top-level page (not in the UI's iframe): the same flags as that iframe's
  // sandbox attribute (static/app.js), never allow-scripts.
  return fmt::format(
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:{}; script-src 'none'; "
      "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
      "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox",
      remote_images ? " https: http:" : "");
}

std::string session_cookie(std::string_view token, bool secure) {
  return fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict{}", kSessionCookie, token,
                     secure ? "; Secure" : "");
}

std::string clear_session_cookie(bool secure) {
  return fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", kSessionCookie,
                     secure ? "; Secure" : "");
}

std::string content_disposition(std::string_view disposition, std::string_view filename) {
  std::string ascii;
  for (unsigned char c : filename) {
    const bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%' && c != ';';
    ascii.push_back(plain ? static_cast<char>(c) : '_');
  }
  if (ascii.empty()) ascii = "download";
  // RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else escaped.
  std::string encoded;
  for (unsigned char c : filename) {
    const bool attr =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (attr) {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded += fmt::format("%{:02X}", c);
    }
  }
  if (encoded.empty()) encoded = "download";
  return fmt::format("{}; filename=\"{}\"; filename*=UTF-8''{}", disposition, ascii, encoded);
}

std::string download_content_type(std::string_view type_subtype, std::string_view charset) {
  static constexpr std::string_view kOpaque = "application/octet-stream";
  const std::string t = lower(type_subtype);
  const auto slash = t.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == t.size())
    return std::string(kOpaque);
  for (std::size_t i = 0; i < t.size(); ++i)
    if (i != slash && !token_char(t[i])) return std::string(kOpaque);
  const std::string_view type = std::string_view(t).substr(0, slash);
  const std::string_view sub = std::string_view(t).substr(slash + 1);
  // Anything a browser renders as a document or runs: never with its own type.
  static constexpr std::array<std::string_view, 6> kActiveWords = {
      "html", "xml", "svg", "javascript", "ecmascript", "xsl"};
  for (auto word : kActiveWords)
    if (sub.find(word) != std::string_view::npos) return std::string(kOpaque);
  if (type == "text") {
    static constexpr std::array<std::string_view, 5> kText = {"plain", "csv", "calendar", "vcard",
                                                              "markdown"};
    for (auto ok : kText)
      if (sub == ok) {
        const std::string cs = lower(charset);
        const bool clean =
            !cs.empty() && cs.size() <= 40 && std::all_of(cs.begin(), cs.end(), [](char c) {
              return token_char(c) || c == '_' || c == ':';
            });
        return clean ? fmt::format("{}; charset={}", t, cs) : t;
      }
    return std::string(kOpaque);
  }
  if (type == "image" || type == "audio" || type == "video") return t;
  if (type == "application") {
    static constexpr std::array<std::string_view, 6> kApp = {"pdf",  "zip",    "gzip",
                                                             "json", "msword", "octet-stream"};
    for (auto ok : kApp)
      if (sub == ok) return t;
    if (sub.starts_with("vnd.")) return t;
  }
  return std::string(kOpaque);
}

}  // namespace postern::node::webmail
