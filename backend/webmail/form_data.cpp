#include "backend/webmail/form_data.hpp"

#include <fmt/format.h>

#include "backend/mime/content_params.hpp"
#include "backend/mime/header.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::webmail {

namespace {

// RFC 2046 allows 70 characters; a little slack for odd clients.
constexpr std::size_t kMaxBoundary = 200;

// Browsers write '"', CR and LF in names as %22, %0D, %0A (HTML's form
// submission algorithm); nothing else is percent-encoded there.
std::string unescape_form_name(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && s[i + 1] == '2' && (s[i + 2] == '2')) {
      out += '"';
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string strip_path(std::string name) {
  const std::size_t slash = name.find_last_of("/\\");
  if (slash != std::string::npos) name.erase(0, slash + 1);
  std::erase_if(name, [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
  return name;
}

// Splits the part's header block into fields (CRLF or LF line ends).
std::vector<mime::HeaderField> part_fields(std::string_view header) {
  mime::HeaderCollector collector;
  while (!header.empty()) {
    std::size_t lf = header.find('\n');
    std::string_view line = header.substr(0, lf);
    if (line.ends_with('\r')) line.remove_suffix(1);
    collector.add_line(line, line.size());
    header.remove_prefix(lf == std::string_view::npos ? header.size() : lf + 1);
  }
  return collector.take_fields();
}

tl::expected<FormPartView, std::string> make_part(std::string_view header, std::string_view data,
                                                  std::size_t index) {
  const auto fields = part_fields(header);
  const mime::HeaderField* cd = mime::find_field(fields, "Content-Disposition");
  if (cd == nullptr) {
    return tl::unexpected(fmt::format("part {} has no Content-Disposition", index + 1));
  }
  const auto disposition = mime::parse_content_disposition(cd->value);
  if (!disposition || disposition->type != "form-data") {
    return tl::unexpected(fmt::format("part {} is not form-data", index + 1));
  }
  FormPartView part;
  bool named = false;
  for (const auto& [name, value] : disposition->params) {
    if (name == "name") {
      part.name = unescape_form_name(value);
      named = true;
    } else if (name == "filename") {
      part.filename = strip_path(unescape_form_name(value));
    }
  }
  if (!named) return tl::unexpected(fmt::format("part {} has no field name", index + 1));
  part.content_type = "text/plain";
  if (const mime::HeaderField* ct = mime::find_field(fields, "Content-Type")) {
    if (!mime::trim_wsp(ct->value).empty())
      part.content_type = std::string(mime::trim_wsp(ct->value));
  }
  part.data = data;
  return part;
}

}  // namespace

tl::expected<std::vector<FormPart>, std::string> parse_form_data(std::string_view content_type,
                                                                 std::string_view body,
                                                                 const FormLimits& limits) {
  auto views = parse_form_data_views(content_type, body, limits);
  if (!views) return tl::unexpected(std::move(views.error()));
  std::vector<FormPart> parts;
  parts.reserve(views->size());
  for (auto& v : *views) {
    parts.push_back(
        {std::move(v.name), std::move(v.filename), std::move(v.content_type), std::string(v.data)});
  }
  return parts;
}

tl::expected<std::vector<FormPartView>, std::string> parse_form_data_views(
    std::string_view content_type, std::string_view body, const FormLimits& limits) {
  const auto type = mime::parse_content_type(content_type);
  if (!type || type->type != "multipart" || type->subtype != "form-data") {
    return tl::unexpected(std::string("the body is not multipart/form-data"));
  }
  std::string boundary;
  for (const auto& [name, value] : type->params) {
    if (name == "boundary") boundary = value;
  }
  if (boundary.empty()) return tl::unexpected(std::string("no boundary in the Content-Type"));
  if (boundary.size() > kMaxBoundary) return tl::unexpected(std::string("boundary too long"));

  // Each delimiter is CRLF "--" boundary; the first may open the body.
  const std::string dash = "--" + boundary;
  const std::string delimiter = "\r\n" + dash;
  std::size_t pos;
  if (body.starts_with(dash)) {
    pos = dash.size();
  } else {
    const std::size_t first = body.find(delimiter);
    if (first == std::string_view::npos) return tl::unexpected(std::string("no boundary line"));
    pos = first + delimiter.size();
  }

  std::vector<FormPartView> parts;
  while (true) {
    // After a delimiter: "--" closes, else optional blanks then CRLF.
    if (body.compare(pos, 2, "--") == 0) return parts;
    while (pos < body.size() && mime::is_wsp(body[pos])) ++pos;
    if (body.compare(pos, 2, "\r\n") == 0) {
      pos += 2;
    } else if (body.compare(pos, 1, "\n") == 0) {
      pos += 1;
    } else {
      return tl::unexpected(pos >= body.size() ? std::string("missing closing boundary")
                                               : std::string("malformed boundary line"));
    }
    if (parts.size() >= limits.max_parts) {
      return tl::unexpected(fmt::format("more than {} parts", limits.max_parts));
    }
    // The header ends at the first empty line (a part may have no header
    // lines at all, then the empty line comes at once).
    std::size_t header_end;
    std::size_t data_start;
    if (body.compare(pos, 2, "\r\n") == 0) {
      header_end = pos;
      data_start = pos + 2;
    } else {
      const std::size_t crlf = body.find("\r\n\r\n", pos);
      const std::size_t lf = body.find("\n\n", pos);
      if (crlf == std::string_view::npos && lf == std::string_view::npos) {
        return tl::unexpected(std::string("missing closing boundary"));
      }
      if (crlf != std::string_view::npos && (lf == std::string_view::npos || crlf + 1 <= lf)) {
        header_end = crlf;
        data_start = crlf + 4;
      } else {
        header_end = lf;
        data_start = lf + 2;
      }
    }
    if (header_end - pos > limits.max_part_header) {
      return tl::unexpected(fmt::format("part {} header too large", parts.size() + 1));
    }
    const std::size_t data_end = body.find(delimiter, data_start);
    if (data_end == std::string_view::npos) {
      return tl::unexpected(std::string("missing closing boundary"));
    }
    auto part = make_part(body.substr(pos, header_end - pos),
                          body.substr(data_start, data_end - data_start), parts.size());
    if (!part) return tl::unexpected(part.error());
    parts.push_back(std::move(*part));
    pos = data_end + delimiter.size();
  }
}

}  // namespace postern::node::webmail
