// The single-page interface's files (backend/webmail/static/), compiled into
// the node by backend/webmail/embed_assets.py so that a node needs nothing on
// disk to serve them.
#pragma once

#include <string_view>

namespace postern::node::webmail {

struct StaticAsset {
  std::string_view path;          // "/index.html", "/static/app.js" ...
  std::string_view content_type;  // "text/html; charset=utf-8" ...
  std::string_view body;
  std::string_view etag;  // quoted strong validator from the content's hash
};

// The asset served at `path` (already percent-decoded), or nullptr.
const StaticAsset* find_static_asset(std::string_view path);

}  // namespace postern::node::webmail
