// Building the WebMail server's responses (API.md, "Conventions" and "The
// interface and its headers"): JSON bodies and errors, the security headers
// every response carries, the Content-Security-Policies, cookies and the
// headers of a download. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/http_message.hpp"

namespace postern::node::webmail {

// A whole response; HttpConnection adds Content-Length (or the body's
// framing), Connection and the headers of add_security_headers().
struct Response {
  int status = 200;
  core::http::Headers headers;
  std::string body;
};

// `body` serialised, Content-Type application/json; charset=utf-8.
Response json_response(int status, const nlohmann::json& body);
// {"error": code, "message": message}; 503 carries Retry-After.
Response error_response(int status, std::string_view code, std::string_view message);
// The API's error code for a status (400 "bad_request", 401 "auth" ...).
std::string_view error_code(int status);

// X-Content-Type-Options, Referrer-Policy and X-Frame-Options, unless the
// response set them already.
void add_security_headers(core::http::Headers& headers);

// The application's pages.
inline constexpr std::string_view kPageCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'self'";
// A sanitised message body in its sandboxed iframe; remote images only when
// the user allowed them for this message.
std::string message_body_csp(bool remote_images);

// Set-Cookie values for the session cookie (HttpOnly; SameSite=Strict;
// Path=/, and Secure when the browser reached us over TLS).
std::string session_cookie(std::string_view token, bool secure);
std::string clear_session_cookie(bool secure);
inline constexpr std::string_view kSessionCookie = "postern_session";

// `disposition` ("attachment") with an ASCII filename="..." fallback (unsafe
// characters replaced) and filename*=UTF-8''<percent-encoded> (RFC 6266, RFC
// 8187).
std::string content_disposition(std::string_view disposition, std::string_view filename);

// The Content-Type a downloaded part is served with: its own "type/subtype"
// when that is inert, application/octet-stream for anything a browser could
// run or render as a page (HTML, XML, SVG, scripts) or that is malformed.
// Plain text keeps `charset` (the part's parameter; the bytes are served as
// stored, only transfer-decoded) when it is a plain token.
std::string download_content_type(std::string_view type_subtype, std::string_view charset = {});

}  // namespace postern::node::webmail
