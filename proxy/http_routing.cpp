#include "proxy/http_routing.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/html_escape.hpp"
#include "proxy/routing_cookie.hpp"

namespace postern::proxy::http_routing {

namespace {

using core::http::Framing;
using core::http::Headers;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// RFC 9110 7.6.1: these describe one hop, never the next. Expect is
// answered by the proxy itself (100 Continue when it starts the body); the
// framing fields are set again for the body as it is sent on.
constexpr std::string_view kHopByHop[] = {"connection",
                                          "keep-alive",
                                          "proxy-connection",
                                          "te",
                                          "trailer",
                                          "upgrade",
                                          "transfer-encoding",
                                          "content-length",
                                          "proxy-authenticate",
                                          "proxy-authorization",
                                          "expect"};

// Fields a Connection header cannot remove (RFC 9110 7.6.1 lets a sender
// name any field): Host, which the node needs (its same-origin check, and an
// HTTP/1.1 request without it is invalid), and the framing fields, which are
// ours to set for the next hop (strip_hop_by_hop's caller removes or keeps
// them by the framing it sends, never by what the sender named).
constexpr std::string_view kNeverNamed[] = {"host", "content-length", "transfer-encoding"};

bool never_named(std::string_view name) {
  for (auto n : kNeverNamed)
    if (iequals(name, n)) return true;
  return false;
}

void strip_hop_by_hop(Headers& h, bool keep_length) {
  // The fields Connection names go too (RFC 9110 7.6.1), but for the few
  // the message cannot do without.
  std::vector<std::string> named;
  for (const auto& f : h.fields) {
    if (!iequals(f.name, "connection")) continue;
    std::string_view list = f.value;
    while (!list.empty()) {
      auto comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) named.emplace_back(item);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  for (const auto& n : named)
    if (!never_named(n)) h.remove(n);
  for (auto name : kHopByHop) {
    if (keep_length && name == "content-length") continue;
    h.remove(name);
  }
}

std::string html_escape(std::string_view s) {
  std::string out;
  core::append_html_escaped(out, s, true);
  return out;
}

}  // namespace

std::optional<std::string> routing_path(std::string_view path) {
  auto decoded = core::http::percent_decode(path);
  if (!decoded || decoded->find('\0') != std::string::npos) return std::nullopt;
  std::string_view rest = *decoded;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    if (segment == "." || segment == "..") return std::nullopt;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return decoded;
}

RequestKind classify(const core::http::RequestHead& head) {
  const std::string p = routing_path(head.path).value_or(head.path);
  if (p != "/api" && !p.starts_with("/api/")) return RequestKind::Page;
  if (head.method == "POST" && p == "/api/login") return RequestKind::Login;
  if (head.method == "POST" && p == "/api/logout") return RequestKind::Logout;
  return RequestKind::Api;
}

std::optional<std::string> login_user(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  auto it = json.find("user");
  if (it == json.end() || !it->is_string()) return std::nullopt;
  std::string user = it->get<std::string>();
  if (user.empty() || user.size() > RoutingCookie::kMaxUser) return std::nullopt;
  return user;
}

bool is_upload(const core::http::RequestHead& head) {
  const std::string* type = head.headers.get("content-type");
  if (type == nullptr) return false;
  std::string_view t = *type;
  t = t.substr(0, t.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  return iequals(t, "multipart/form-data");
}

std::string route_cookie(std::string_view value, bool secure) {
  return fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict{}", RoutingCookie::kName, value,
                     secure ? "; Secure" : "");
}

std::string clear_route_cookie(bool secure) {
  return fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}", RoutingCookie::kName,
                     secure ? "; Secure" : "");
}

core::http::RequestHead upstream_request(const core::http::RequestHead& in, const Framing& body,
                                         const Forwarding& from) {
  core::http::RequestHead out = in;
  out.minor_version = 1;
  // The client's earlier entries stay in front; ours is last, the one the
  // node believes (it trusts the field only from its proxies).
  std::string forwarded = out.headers.joined("x-forwarded-for");
  forwarded += (forwarded.empty() ? "" : ", ") + from.client_ip;
  strip_hop_by_hop(out.headers, false);
  out.headers.remove("x-forwarded-for");
  out.headers.remove("x-forwarded-proto");
  out.headers.remove("x-real-ip");
  // HTTP/1.0 allows a request without Host; it goes on as HTTP/1.1, which
  // does not (RFC 9112 3.2): the node's own address stands in.
  if (out.headers.get("host") == nullptr && !from.node_host.empty())
    out.headers.add("Host", from.node_host);
  if (body.kind == Framing::Length) out.headers.add("Content-Length", std::to_string(body.length));
  if (body.kind == Framing::Chunked) out.headers.add("Transfer-Encoding", "chunked");
  out.headers.add("X-Forwarded-For", forwarded);
  out.headers.add("X-Forwarded-Proto", from.tls ? "https" : "http");
  out.headers.add("X-Real-IP", from.client_ip);
  return out;
}

core::http::ResponseHead client_response(const core::http::ResponseHead& in, bool chunked,
                                         bool close, int client_minor_version) {
  core::http::ResponseHead out = in;
  out.minor_version = 1;
  strip_hop_by_hop(out.headers, !chunked);
  if (chunked) out.headers.add("Transfer-Encoding", "chunked");
  if (close)
    out.headers.add("Connection", "close");
  else if (client_minor_version == 0)
    out.headers.add("Connection", "keep-alive");
  return out;
}

std::string local_response(int status, bool json, std::string_view code, std::string_view message,
                           bool close, std::string_view extra_cookie) {
  std::string body;
  core::http::ResponseHead head;
  head.status = status;
  if (json) {
    body = nlohmann::json{{"error", code}, {"message", message}}.dump();
    head.headers.add("Content-Type", "application/json; charset=utf-8");
  } else {
    const auto title = core::http::reason_phrase(status);
    body = fmt::format(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\"><title>{0} {1}</title></head>\n"
        "<body style=\"font-family: sans-serif; max-width: 40em; margin: 4em auto\">"
        "<h1>{1}</h1>\n<p>{2}</p>\n<p><a href=\"/\">Back to the start page</a></p></body></html>\n",
        status, html_escape(title), html_escape(message));
    head.headers.add("Content-Type", "text/html; charset=utf-8");
    head.headers.add("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
  }
  head.headers.add("Content-Length", std::to_string(body.size()));
  head.headers.add("Cache-Control", "no-store");
  head.headers.add("X-Content-Type-Options", "nosniff");
  if (status == 503) head.headers.add("Retry-After", "5");
  if (!extra_cookie.empty()) head.headers.add("Set-Cookie", std::string(extra_cookie));
  if (close) head.headers.add("Connection", "close");
  return core::http::serialize(head) + body;
}

std::string login_refused_response(bool close) {
  const std::string body =
      nlohmann::json{{"error", "auth"}, {"message", "Wrong user name or password"}}.dump();
  core::http::ResponseHead head;
  head.status = 401;
  head.headers.add("Content-Type", "application/json; charset=utf-8");
  head.headers.add("Cache-Control", "no-store");
  head.headers.add("X-Content-Type-Options", "nosniff");
  head.headers.add("Referrer-Policy", "no-referrer");
  head.headers.add("X-Frame-Options", "SAMEORIGIN");
  head.headers.add("Content-Length", std::to_string(body.size()));
  if (close) head.headers.add("Connection", "close");
  return core::http::serialize(head) + body;
}

std::string_view status_class(int status) {
  switch (status / 100) {
    case 1:
      return "1xx";
    case 2:
      return "2xx";
    case 3:
      return "3xx";
    case 4:
      return "4xx";
    case 5:
      return "5xx";
    default:
      return "other";
  }
}

}  // namespace postern::proxy::http_routing
