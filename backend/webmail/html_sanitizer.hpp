// Untrusted mail HTML made safe to show (DESIGN.md section 6, "webmail/"):
// an allow-list of elements, attributes, URL schemes and CSS properties; all
// else is dropped. Pure: no I/O, bounded by the input's size.
//
// What never survives: script, style sheets that load or run anything, event
// handler attributes (on*), forms and their controls, iframes, objects,
// embeds, meta, base, link, svg and math; javascript:, vbscript:, data: (except
// data:image/png|gif|jpeg|jpg|webp in img src) and any URL scheme outside http,
// https, mailto and cid; CSS with url(), expression(), @import, behavior or
// position:fixed. Text is re-escaped on output, so the result is well-formed
// HTML whatever the input was (unclosed tags are closed, stray end tags dropped).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace postern::node::webmail {

struct SanitizeOptions {
  // Remote images (http/https img src, background) are kept only when true;
  // otherwise removed and counted.
  bool allow_remote_images = false;
  // Maps a "cid:<content-id>" reference (without "cid:") to the URL to use
  // instead (the part's download URL); "" drops the reference.
  std::function<std::string(std::string_view content_id)> resolve_cid;
  // Links get target="_blank" rel="noopener noreferrer".
  bool links_open_outside = true;
};

struct SanitizedHtml {
  std::string html;               // the body's content only (no html/head/body)
  std::size_t remote_images = 0;  // remote images removed (0 when allowed)
};

SanitizedHtml sanitize_html(std::string_view html, const SanitizeOptions& options = {});

}  // namespace postern::node::webmail
