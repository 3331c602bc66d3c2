// Which handler answers a request (API.md): the route table, its access rules
// (no session / a session / a session and the CSRF token) and the static
// interface for every path outside /api/.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/webmail/http_connection.hpp"

namespace postern::node::webmail {

class ApiCall;
struct WebmailContext;

enum class Access {
  Public,       // no session needed (login)
  Session,      // a live session (GET)
  SessionCsrf,  // a live session and X-CSRF-Token (everything that changes something)
};

using ApiHandler = void (*)(std::shared_ptr<ApiCall> call);

struct Route {
  std::string_view method;
  // Path below "/api/"; "{}" matches one non-empty segment (percent-decoded
  // into ApiCall::params).
  std::string_view pattern;
  Access access;
  ApiHandler handler;
};

// What a path and method are, checked without side effects.
struct RouteMatch {
  const Route* route = nullptr;     // set when status == 0
  std::vector<std::string> params;  // the {} segments, decoded
  int status = 0;                   // 404 (no such path), 405 (path exists, not this method)
  std::string allow;                // for 405: "GET, HEAD" ...
};

// `path` is the request's still-encoded path. HEAD matches a GET route.
RouteMatch match_route(std::string_view method, std::string_view path);

// The connection's entry point: one complete request.
void handle_request(WebmailContext& ctx, std::shared_ptr<HttpConnection> connection,
                    Request request);

}  // namespace postern::node::webmail
