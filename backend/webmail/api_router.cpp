#include "backend/webmail/api_router.hpp"

#include <array>

#include "backend/webmail/api_call.hpp"
#include "backend/webmail/api_handlers.hpp"
#include "backend/webmail/static_assets.hpp"

namespace postern::node::webmail {

namespace {

constexpr std::array kRoutes = {
    Route{"POST", "login", Access::Public, &api_login},
    Route{"POST", "logout", Access::SessionCsrf, &api_logout},
    Route{"GET", "session", Access::Session, &api_session},
    Route{"GET", "folders", Access::Session, &api_folders},
    Route{"GET", "folders/{}/messages", Access::Session, &api_message_list},
    Route{"GET", "folders/{}/messages/{}", Access::Session, &api_message},
    Route{"GET", "folders/{}/messages/{}/body.html", Access::Session, &api_body_html},
    Route{"GET", "folders/{}/messages/{}/raw", Access::Session, &api_raw},
    Route{"GET", "folders/{}/messages/{}/parts/{}", Access::Session, &api_part},
    Route{"GET", "folders/{}/messages/{}/compose", Access::Session, &api_compose},
    Route{"POST", "messages/flags", Access::SessionCsrf, &api_flags},
    Route{"POST", "messages/move", Access::SessionCsrf, &api_move},
    Route{"POST", "messages/copy", Access::SessionCsrf, &api_copy},
    Route{"POST", "messages/delete", Access::SessionCsrf, &api_delete},
    Route{"POST", "send", Access::SessionCsrf, &api_send},
    Route{"POST", "drafts", Access::SessionCsrf, &api_draft},
};

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const auto slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    s.remove_prefix(slash + 1);
  }
}

// Matches `segments` against `pattern`; the {} segments are decoded into
// `params`. A segment that does not decode does not match.
bool matches(std::string_view pattern, const std::vector<std::string_view>& segments,
             std::vector<std::string>& params) {
  const auto parts = split(pattern);
  if (parts.size() != segments.size()) return false;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "{}") {
      auto decoded = core::http::percent_decode(segments[i]);
      if (!decoded || decoded->empty()) return false;
      out.push_back(std::move(*decoded));
    } else if (parts[i] != segments[i]) {
      return false;
    }
  }
  params = std::move(out);
  return true;
}

void add_allowed(std::string& allow, std::string_view method) {
  if (allow.find(method) != std::string::npos) return;
  if (!allow.empty()) allow += ", ";
  allow += method;
  if (method == "GET") allow += ", HEAD";
}

// Whether the request is for the session, else answers 401 / 403.
bool check_access(ApiCall& call, Access access) {
  if (access == Access::Public) return true;
  auto token = core::http::cookie_value(call.request.head.headers, kSessionCookie);
  std::optional<WebSession> session;
  if (token && !token->empty()) session = call.ctx.sessions.find(*token);
  if (!session) {
    call.error(401, "Not logged in, or the session has expired");
    return false;
  }
  call.session = std::move(*session);
  if (access == Access::SessionCsrf) {
    const std::string* given = call.request.head.headers.get("X-CSRF-Token");
    if (given == nullptr || !WebSessions::csrf_matches(call.session, *given)) {
      call.error(403, "csrf", "Missing or wrong X-CSRF-Token");
      return false;
    }
  }
  return true;
}

// GET / and every path outside /api/ and /static/: the application; /static/
// its assets.
void serve_static(HttpConnection& connection, const Request& request) {
  const std::uint64_t id = connection.request_id();
  const std::string& method = request.head.method;
  if (method != "GET" && method != "HEAD") {
    Response r = error_response(405, "method", "Only GET here");
    r.headers.add("Allow", "GET, HEAD");
    connection.respond(id, std::move(r));
    return;
  }
  const StaticAsset* asset = nullptr;
  if (request.head.path.starts_with("/static/")) {
    auto path = core::http::percent_decode(request.head.path);
    if (path) asset = find_static_asset(*path);
  } else {
    asset = find_static_asset("/index.html");
  }
  if (asset == nullptr) {
    connection.respond(id, error_response(404, "not_found", "No such file"));
    return;
  }
  Response r;
  r.headers.add("Content-Type", std::string(asset->content_type));
  r.headers.add("ETag", std::string(asset->etag));
  // Revalidated every time (the ETag makes that a 304): a new node build
  // serves its new interface at once.
  r.headers.add("Cache-Control", "no-cache");
  if (asset->content_type.starts_with("text/html")) {
    r.headers.add("Content-Security-Policy", std::string(kPageCsp));
  }
  const std::string* match = request.head.headers.get("If-None-Match");
  if (match != nullptr && !asset->etag.empty() &&
      (*match == asset->etag || match->find(asset->etag) != std::string::npos)) {
    r.status = 304;
  } else {
    r.body = std::string(asset->body);
  }
  connection.respond(id, std::move(r));
}

}  // namespace

RouteMatch match_route(std::string_view method, std::string_view path) {
  RouteMatch m;
  m.status = 404;
  if (!path.starts_with("/api/")) return m;
  const auto segments = split(path.substr(5));
  for (const Route& route : kRoutes) {
    std::vector<std::string> params;
    if (!matches(route.pattern, segments, params)) continue;
    if (route.method == method || (method == "HEAD" && route.method == "GET")) {
      m.route = &route;
      m.params = std::move(params);
      m.status = 0;
      m.allow.clear();
      return m;
    }
    m.status = 405;
    add_allowed(m.allow, route.method);
  }
  return m;
}

void handle_request(WebmailContext& ctx, std::shared_ptr<HttpConnection> connection,
                    Request request) {
  if (!request.head.path.starts_with("/api/") && request.head.path != "/api") {
    serve_static(*connection, request);
    return;
  }
  RouteMatch m = match_route(request.head.method, request.head.path);
  auto call = std::make_shared<ApiCall>(ctx, connection, std::move(request));
  if (m.status == 405) {
    Response r = error_response(405, "method", "This method is not allowed here");
    r.headers.add("Allow", m.allow);
    call->reply(std::move(r));
    return;
  }
  if (m.status != 0) {
    call->error(404, "No such API endpoint");
    return;
  }
  call->params = std::move(m.params);
  if (!check_access(*call, m.route->access)) return;
  m.route->handler(std::move(call));
}

}  // namespace postern::node::webmail
