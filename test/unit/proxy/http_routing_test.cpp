#include "proxy/http_routing.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace postern::proxy::http_routing;
namespace http = postern::core::http;

namespace {

http::RequestHead head(std::string_view text) {
  auto r = http::parse_request_head(text);
  REQUIRE(r);
  REQUIRE(*r);
  return (*r)->head;
}

std::string fields(const http::Headers& h) {
  std::string out;
  for (const auto& f : h.fields) out += f.name + ": " + f.value + "\n";
  return out;
}

}  // namespace

TEST_CASE("http routing: request kinds") {
  CHECK(classify(head("POST /api/login HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Login);
  CHECK(classify(head("GET /api/login HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Api);
  CHECK(classify(head("POST /api/logout HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Logout);
  CHECK(classify(head("GET /api/folders HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Api);
  CHECK(classify(head("GET /api HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Api);
  CHECK(classify(head("GET /apix HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Page);
  CHECK(classify(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Page);
  CHECK(classify(head("GET /static/app.js HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Page);
  // Decoded as a node would: an encoded slash or letter does not escape /api/.
  CHECK(classify(head("GET /api%2Ffolders HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Api);
  CHECK(classify(head("GET /%61pi/folders HTTP/1.1\r\nHost: a\r\n\r\n")) == RequestKind::Api);
}

TEST_CASE("http routing: paths a browser never sends") {
  CHECK(routing_path("/static/app.js") == "/static/app.js");
  CHECK(routing_path("/api/folders/Archive%2F2026") == "/api/folders/Archive/2026");
  CHECK(routing_path("/") == "/");
  CHECK(routing_path("/static/../api/folders") == std::nullopt);
  CHECK(routing_path("/static/%2e%2e/api/folders") == std::nullopt);
  CHECK(routing_path("/static/%2E%2E%2Fapi") == std::nullopt);
  CHECK(routing_path("/./api") == std::nullopt);
  CHECK(routing_path("/a/..") == std::nullopt);
  CHECK(routing_path("/a%00b") == std::nullopt);
  CHECK(routing_path("/a%zz") == std::nullopt);
  CHECK(routing_path("/a.b/..c/...") == "/a.b/..c/...");
}

TEST_CASE("http routing: the login's user") {
  CHECK(login_user(R"({"user": "alice@example.com", "password": "x"})") == "alice@example.com");
  CHECK(login_user(R"({"password": "x"})") == std::nullopt);
  CHECK(login_user(R"({"user": 5})") == std::nullopt);
  CHECK(login_user(R"({"user": ""})") == std::nullopt);
  CHECK(login_user(R"(["user"])") == std::nullopt);
  CHECK(login_user("user=alice") == std::nullopt);
  CHECK(login_user("") == std::nullopt);
  CHECK(login_user(R"({"user": ")" + std::string(400, 'a') + R"("})") == std::nullopt);
}

TEST_CASE("http routing: uploads") {
  CHECK(
      is_upload(head("POST /api/send HTTP/1.1\r\nHost: a\r\n"
                     "Content-Type: multipart/form-data; boundary=x\r\n\r\n")));
  CHECK(
      is_upload(head("POST /api/send HTTP/1.1\r\nHost: a\r\n"
                     "Content-Type: Multipart/Form-Data\r\n\r\n")));
  CHECK_FALSE(
      is_upload(head("POST /api/send HTTP/1.1\r\nHost: a\r\n"
                     "Content-Type: application/json\r\n\r\n")));
  CHECK_FALSE(is_upload(head("POST /api/send HTTP/1.1\r\nHost: a\r\n\r\n")));
}

TEST_CASE("http routing: cookies") {
  CHECK(route_cookie("v1.x", false) == "postern_route=v1.x; Path=/; HttpOnly; SameSite=Strict");
  CHECK(route_cookie("v1.x", true) ==
        "postern_route=v1.x; Path=/; HttpOnly; SameSite=Strict; Secure");
  CHECK(clear_route_cookie(false) ==
        "postern_route=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
}

TEST_CASE("http routing: the request as it goes to the node") {
  auto in = head(
      "POST /api/send HTTP/1.1\r\nHost: mail.example.com\r\nConnection: keep-alive, X-Secret\r\n"
      "X-Secret: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n"
      "Upgrade: h2c\r\nExpect: 100-continue\r\nX-Forwarded-For: 10.9.9.9\r\n"
      "X-Forwarded-For: 10.8.8.8\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 1.2.3.4\r\n"
      "Cookie: postern_session=abc\r\n\r\n");
  auto out = upstream_request(in, http::Framing{http::Framing::Chunked, 0}, {"192.0.2.7", false});
  CHECK(fields(out.headers) ==
        "Host: mail.example.com\n"
        "Cookie: postern_session=abc\n"
        "Transfer-Encoding: chunked\n"
        "X-Forwarded-For: 10.9.9.9, 10.8.8.8, 192.0.2.7\n"
        "X-Forwarded-Proto: http\n"
        "X-Real-IP: 192.0.2.7\n");
  CHECK(http::serialize(out).starts_with("POST /api/send HTTP/1.1\r\n"));
  // HTTP/1.0 without Host goes on as HTTP/1.1: with the node's address.
  auto get = upstream_request(head("GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n"), http::Framing{},
                              {"::1", true, "[::1]:11080"});
  CHECK(fields(get.headers) ==
        "Host: [::1]:11080\nX-Forwarded-For: ::1\nX-Forwarded-Proto: https\nX-Real-IP: ::1\n");
  CHECK(http::serialize(get).starts_with("GET / HTTP/1.1\r\n"));
  auto length = upstream_request(head("POST /api/login HTTP/1.1\r\nHost: a\r\n"
                                      "Content-Length: 5, 5\r\n\r\n"),
                                 http::Framing{http::Framing::Length, 5}, {"127.0.0.1", false});
  CHECK(*length.headers.get("content-length") == "5");
  CHECK(length.headers.joined("content-length") == "5");
}

TEST_CASE("http routing: Connection cannot remove Host or the framing") {
  // "Connection: host" names a field the node cannot do without; the
  // framing fields are set by the proxy for the body it sends.
  auto in = head(
      "POST /api/flags HTTP/1.1\r\nHost: mail.example.com\r\n"
      "Connection: Host, content-length, transfer-encoding, X-Gone\r\nX-Gone: 1\r\n"
      "Content-Length: 2\r\n\r\n");
  auto out = upstream_request(in, http::Framing{http::Framing::Length, 2},
                              {"192.0.2.7", false, "127.0.0.1:11080"});
  CHECK(fields(out.headers) ==
        "Host: mail.example.com\n"
        "Content-Length: 2\n"
        "X-Forwarded-For: 192.0.2.7\n"
        "X-Forwarded-Proto: http\n"
        "X-Real-IP: 192.0.2.7\n");
  // HTTP/1.0 with "Connection: host": its Host stays (not replaced by ours).
  auto old = upstream_request(head("GET / HTTP/1.0\r\nHost: a.example\r\nConnection: host\r\n\r\n"),
                              http::Framing{}, {"192.0.2.7", false, "127.0.0.1:11080"});
  CHECK(old.headers.joined("host") == "a.example");
  // A node's answer naming its Content-Length keeps it (the body's framing).
  auto r = http::parse_response_head(
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: content-length\r\n\r\n");
  REQUIRE(r);
  REQUIRE(*r);
  CHECK(fields(client_response((*r)->head, false, false, 1).headers) == "Content-Length: 3\n");
}

TEST_CASE("http routing: the answer as it goes to the browser") {
  auto r = http::parse_response_head(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
      "Connection: close, X-Internal\r\nX-Internal: 1\r\nKeep-Alive: timeout=3\r\n"
      "Set-Cookie: postern_session=t; HttpOnly\r\n\r\n");
  REQUIRE(r);
  REQUIRE(*r);
  auto kept = client_response((*r)->head, false, false, 1);
  CHECK(fields(kept.headers) ==
        "Content-Type: text/plain\nContent-Length: 12\nSet-Cookie: postern_session=t; HttpOnly\n");
  auto chunked = client_response((*r)->head, true, true, 1);
  CHECK(fields(chunked.headers) ==
        "Content-Type: text/plain\nSet-Cookie: postern_session=t; HttpOnly\n"
        "Transfer-Encoding: chunked\nConnection: close\n");
  auto old = client_response((*r)->head, false, false, 0);
  CHECK(*old.headers.get("connection") == "keep-alive");
}

TEST_CASE("http routing: the proxy's own answers") {
  const auto json =
      local_response(401, true, "auth", "Please log in.", false, clear_route_cookie(false));
  CHECK(json.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
  CHECK(json.find("Content-Type: application/json; charset=utf-8\r\n") != std::string::npos);
  CHECK(json.find("Set-Cookie: postern_route=; Path=/; Max-Age=0") != std::string::npos);
  CHECK(json.ends_with("\r\n\r\n{\"error\":\"auth\",\"message\":\"Please log in.\"}"));
  CHECK(json.find("Connection: close") == std::string::npos);
  const auto page = local_response(503, false, "unavailable", "Try <later>.", true);
  CHECK(page.find("Retry-After: 5\r\n") != std::string::npos);
  CHECK(page.find("Connection: close\r\n") != std::string::npos);
  CHECK(page.find("<h1>Service Unavailable</h1>") != std::string::npos);
  CHECK(page.find("Try &lt;later&gt;.") != std::string::npos);
  // The Content-Length matches the body.
  auto parsed = http::parse_response_head(page);
  REQUIRE(parsed);
  REQUIRE(*parsed);
  CHECK(std::stoul(*(*parsed)->head.headers.get("content-length")) ==
        page.size() - (*parsed)->consumed);
  CHECK(status_class(204) == "2xx");
  CHECK(status_class(503) == "5xx");
  CHECK(status_class(99) == "other");
}

TEST_CASE("http routing: an unknown user's 401 is the node's wrong-password 401") {
  // What backend/webmail sends for a wrong password (api_auth.cpp, its
  // security headers from http_response.cpp) once client_response() has
  // passed it on; test_proxy_http compares the two live.
  const std::string body = R"({"error":"auth","message":"Wrong user name or password"})";
  CHECK(login_refused_response(false) ==
        "HTTP/1.1 401 Unauthorized\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "X-Frame-Options: SAMEORIGIN\r\n"
        "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(login_refused_response(true).find("\r\nConnection: close\r\n\r\n{") != std::string::npos);
}
