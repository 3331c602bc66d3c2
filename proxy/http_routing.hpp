// The pure parts of the proxy's HTTP routing (DESIGN.md section 5, issue 6):
// which kind of request a browser sent, the login's user, the heads as they
// go to the node and back to the browser, the routing cookie's Set-Cookie
// values and the proxy's own answers. No I/O: http_proxy.cpp does that.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/http_message.hpp"

namespace postern::proxy::http_routing {

// The path as routing sees it: percent-decoded, so "/api%2Ffolders" is
// under /api/ as a node that decodes it would think. nullopt for a path a
// browser never sends and nodes might resolve differently from us: a
// malformed escape, a NUL, a "." or ".." segment (raw or encoded); the
// caller answers 400.
std::optional<std::string> routing_path(std::string_view path);

enum class RequestKind {
  Login,   // POST /api/login: routed by the user in its JSON body
  Logout,  // POST /api/logout: routed by the cookie; the answer clears it
  Api,     // anything else under /api/: routed by the cookie, or refused
  Page,    // the interface (/, /static/...): any healthy node will do
};
RequestKind classify(const core::http::RequestHead& head);

// The "user" of a login body ({"user": "...", "password": "..."}), or nullopt
// when the body is not a JSON object with a non-empty string "user".
std::optional<std::string> login_user(std::string_view body);

// Whether the body is multipart/form-data (an upload: max_upload_size).
bool is_upload(const core::http::RequestHead& head);

// Set-Cookie values for the routing cookie, and to remove it.
std::string route_cookie(std::string_view value, bool secure);
std::string clear_route_cookie(bool secure);

struct Forwarding {
  std::string client_ip;  // the client's (or the PROXY header's) address
  bool tls = false;       // the client side is TLS
  std::string node_host;  // the node's "host:port": Host when the request has none
};

// The request head for the node: hop-by-hop fields gone (Connection and the
// fields it names, except Host and the framing fields; Keep-Alive,
// Proxy-Connection, TE, Trailer, Upgrade, Expect, Transfer-Encoding,
// Content-Length), the body's framing set again (`body`: Length keeps its
// length, Chunked goes out chunked), a Host (from.node_host) when an
// HTTP/1.0 request came without one, and X-Forwarded-For (one field: the
// earlier entries, then the client), X-Forwarded-Proto and X-Real-IP set by
// us.
core::http::RequestHead upstream_request(const core::http::RequestHead& in,
                                         const core::http::Framing& body, const Forwarding& from);

// The response head for the browser: hop-by-hop fields gone, and the framing
// to the browser: `length` when the node gave a Content-Length (kept as is),
// chunked when `chunked` (the body is re-encoded), else none (the connection
// closes after). `close` adds Connection: close; an HTTP/1.0 client that
// stays gets Connection: keep-alive.
core::http::ResponseHead client_response(const core::http::ResponseHead& in, bool chunked,
                                         bool close, int client_minor_version);

// POST /api/login's body is a user name and a password: read whole before
// routing, so it gets its own small limit (413 above it), not max_body_size.
inline constexpr std::uint64_t kMaxLoginBody = 8 * 1024;

// The node's answer to a wrong password (backend/webmail/api_auth.cpp): a
// 401 after a fixed delay. A user the directory does not know (or whose
// WebMail is off) gets the same bytes from the proxy after as long, so
// neither the answer nor its timing tells the two apart.
inline constexpr std::chrono::milliseconds kLoginRefusalDelay{1000};
// That 401 as the browser gets it through the proxy when a node sends it:
// the node's fields in its order (Content-Type, Cache-Control and its
// security headers, Content-Length), its body, and Connection: close when
// `close`. backend/webmail changing its answer breaks test_proxy_http's
// comparison of the two.
std::string login_refused_response(bool close);

// The proxy's own answers: JSON ({"error", "message"}) under /api/, a small
// HTML page elsewhere. `extra_cookie`: a Set-Cookie value to add.
std::string local_response(int status, bool json, std::string_view code, std::string_view message,
                           bool close, std::string_view extra_cookie = {});

// A status line and fields into the "1xx".."5xx" class for metrics.
std::string_view status_class(int status);

}  // namespace postern::proxy::http_routing
