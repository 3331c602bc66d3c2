#include "backend/webmail/static_assets.hpp"

#include <doctest/doctest.h>

#include <string>

using postern::node::webmail::find_static_asset;
using postern::node::webmail::StaticAsset;

namespace {

const StaticAsset& asset(std::string_view path) {
  const StaticAsset* a = find_static_asset(path);
  REQUIRE_MESSAGE(a != nullptr, path);
  return *a;
}

// Whether every occurrence of `tag` in `text` is followed, before its '>',
// by `needed`.
bool every_tag_has(std::string_view text, std::string_view tag, std::string_view needed) {
  for (auto at = text.find(tag); at != std::string_view::npos; at = text.find(tag, at + 1)) {
    const auto end = text.find('>', at);
    if (end == std::string_view::npos) return false;
    if (text.substr(at, end - at).find(needed) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("static assets: the interface's files at their paths, with their types") {
  const auto& index = asset("/index.html");
  CHECK(index.content_type == "text/html; charset=utf-8");
  CHECK(index.body.starts_with("<!doctype html>"));
  // The same file under /static/, with the same validator.
  CHECK(asset("/static/index.html").body == index.body);
  CHECK(asset("/static/index.html").etag == index.etag);
  CHECK(asset("/static/app.js").content_type == "text/javascript; charset=utf-8");
  CHECK(asset("/static/app.css").content_type == "text/css; charset=utf-8");
  CHECK(asset("/static/app.js").body.size() > 1000);
}

TEST_CASE("static assets: ETags are quoted content hashes") {
  for (auto path : {"/index.html", "/static/app.js", "/static/app.css"}) {
    const auto& etag = asset(path).etag;
    CHECK_MESSAGE(etag.size() > 2, path);
    CHECK(etag.front() == '"');
    CHECK(etag.back() == '"');
  }
  CHECK(asset("/static/app.js").etag != asset("/static/app.css").etag);
}

TEST_CASE("static assets: unknown paths find nothing (the node picks its fallback)") {
  CHECK(find_static_asset("/") == nullptr);
  CHECK(find_static_asset("") == nullptr);
  CHECK(find_static_asset("/static/") == nullptr);
  CHECK(find_static_asset("/static/app.js.map") == nullptr);
  CHECK(find_static_asset("/static/../index.html") == nullptr);
  CHECK(find_static_asset("/app.js") == nullptr);
  CHECK(find_static_asset("/STATIC/app.js") == nullptr);
}

TEST_CASE("static assets: the page lives within its Content-Security-Policy") {
  // script-src 'self' and style-src 'self': no inline script, style or
  // event handler in the page, no eval or HTML strings in the script.
  const std::string_view html = asset("/index.html").body;
  CHECK(every_tag_has(html, "<script", " src=\"/static/"));
  CHECK(html.find(" style=") == std::string_view::npos);
  CHECK(html.find("<style") == std::string_view::npos);
  CHECK(html.find(" onclick=") == std::string_view::npos);
  CHECK(html.find(" onload=") == std::string_view::npos);
  const std::string_view js = asset("/static/app.js").body;
  for (auto forbidden : {"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function",
                         "document.write"}) {
    CHECK_MESSAGE(js.find(forbidden) == std::string_view::npos, forbidden);
  }
  // Message bodies are framed without allow-scripts (links may open a new
  // window outside the sandbox): the one sandbox value.
  const auto sandbox = js.find("sandbox: \"");
  REQUIRE(sandbox != std::string_view::npos);
  CHECK(js.substr(sandbox).starts_with(
      "sandbox: \"allow-same-origin allow-popups allow-popups-to-escape-sandbox\","));
  CHECK(js.find("sandbox: \"", sandbox + 1) == std::string_view::npos);
}
