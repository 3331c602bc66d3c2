// multipart/form-data request bodies (RFC 7578), as the compose form sends
// them: text fields and uploaded files. Pure; the caller has the whole body
// (bounded by webmail.max_upload_size).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace postern::node::webmail {

struct FormPart {
  std::string name;                     // the form field's name
  std::optional<std::string> filename;  // set for a file (UTF-8; path stripped)
  std::string content_type;             // as sent; "text/plain" if none
  std::string data;                     // the bytes as sent
};

// The same, with the bytes left in the request body (which must outlive it):
// a 25 MB upload is not copied just to be read once.
struct FormPartView {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;
  std::string_view data;  // a slice of the body given to parse_form_data_views
};

struct FormLimits {
  std::size_t max_parts = 110;
  std::size_t max_part_header = 8 * 1024;
};

// `content_type` is the request's Content-Type header value (it carries the
// boundary). An error names what is wrong (no boundary, a missing closing
// boundary, too many parts ...) for a 400.
tl::expected<std::vector<FormPart>, std::string> parse_form_data(std::string_view content_type,
                                                                 std::string_view body,
                                                                 const FormLimits& limits = {});
tl::expected<std::vector<FormPartView>, std::string> parse_form_data_views(
    std::string_view content_type, std::string_view body, const FormLimits& limits = {});

}  // namespace postern::node::webmail
