#include "backend/webmail/api_router.hpp"

#include <doctest/doctest.h>

#include "backend/webmail/http_response.hpp"

using namespace postern::node::webmail;

TEST_CASE("router: paths and methods") {
  auto m = match_route("POST", "/api/login");
  REQUIRE(m.status == 0);
  CHECK(m.route->access == Access::Public);

  m = match_route("GET", "/api/folders/Archive%2F2026/messages/17/parts/2.1");
  REQUIRE(m.status == 0);
  REQUIRE(m.params.size() == 3);
  CHECK(m.params[0] == "Archive/2026");
  CHECK(m.params[1] == "17");
  CHECK(m.params[2] == "2.1");
  CHECK(m.route->access == Access::Session);

  m = match_route("HEAD", "/api/folders/INBOX/messages/3/raw");
  CHECK(m.status == 0);

  m = match_route("POST", "/api/messages/delete");
  REQUIRE(m.status == 0);
  CHECK(m.route->access == Access::SessionCsrf);
  CHECK(match_route("POST", "/api/logout").route->access == Access::SessionCsrf);
}

TEST_CASE("router: 404 and 405") {
  CHECK(match_route("GET", "/api/nothing").status == 404);
  CHECK(match_route("GET", "/api/folders/INBOX/messages/3/extra/x").status == 404);
  CHECK(match_route("GET", "/api/folders//messages").status == 404);  // empty folder
  CHECK(match_route("GET", "/api/folders/%zz/messages").status == 404);
  CHECK(match_route("GET", "/index.html").status == 404);

  auto m = match_route("GET", "/api/login");
  CHECK(m.status == 405);
  CHECK(m.allow == "POST");
  m = match_route("DELETE", "/api/folders/INBOX/messages/3");
  CHECK(m.status == 405);
  CHECK(m.allow == "GET, HEAD");
}

TEST_CASE("responses: errors, cookies, downloads") {
  auto r = error_response(404, "not_found", "No such message");
  CHECK(r.status == 404);
  CHECK(*r.headers.get("Content-Type") == "application/json; charset=utf-8");
  CHECK(r.body == R"({"error":"not_found","message":"No such message"})");
  CHECK(error_response(503, "unavailable", "x").headers.get("Retry-After") != nullptr);
  CHECK(error_code(401) == "auth");
  CHECK(error_code(413) == "too_large");

  CHECK(session_cookie("abc", false) == "postern_session=abc; Path=/; HttpOnly; SameSite=Strict");
  CHECK(session_cookie("abc", true).ends_with("; Secure"));
  CHECK(clear_session_cookie(false).find("Max-Age=0") != std::string::npos);

  postern::core::http::Headers h;
  add_security_headers(h);
  CHECK(*h.get("X-Content-Type-Options") == "nosniff");
  CHECK(*h.get("Referrer-Policy") == "no-referrer");
  CHECK(*h.get("X-Frame-Options") == "SAMEORIGIN");

  CHECK(message_body_csp(false).find("http:") == std::string::npos);
  CHECK(message_body_csp(false).find("script-src 'none'") != std::string::npos);
  CHECK(message_body_csp(true).find("img-src 'self' data: https: http:") != std::string::npos);
  // Sandboxed even when opened top-level, with the UI iframe's flags and
  // never scripts.
  for (bool images : {false, true}) {
    const std::string csp = message_body_csp(images);
    CHECK(csp.ends_with("; sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox"));
    CHECK(csp.find("allow-scripts") == std::string::npos);
  }
}

TEST_CASE("responses: download types never let a browser run the part") {
  CHECK(download_content_type("image/png") == "image/png");
  CHECK(download_content_type("Application/PDF") == "application/pdf");
  CHECK(download_content_type("text/plain", "ISO-8859-1") == "text/plain; charset=iso-8859-1");
  CHECK(download_content_type("text/plain", "x\"; y") == "text/plain");
  for (const char* active : {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml",
                             "application/javascript", "text/javascript", "application/xml",
                             "text/x-unknown", "multipart/mixed", "bogus", "a/b c", "/x"}) {
    CAPTURE(active);
    CHECK(download_content_type(active) == "application/octet-stream");
  }
}

TEST_CASE("responses: content disposition with RFC 8187 names") {
  CHECK(content_disposition("attachment", "report.pdf") ==
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  CHECK(content_disposition("attachment", "r\xc3\xa9sum\xc3\xa9 \"1\".txt") ==
        "attachment; filename=\"r__sum__ _1_.txt\"; "
        "filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.txt");
  CHECK(content_disposition("attachment", "a\r\nb") ==
        "attachment; filename=\"a__b\"; filename*=UTF-8''a%0D%0Ab");
}
