#include "core/admin_server.hpp"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <fmt/format.h>
#include <cstring>

#include "core/config.hpp"

namespace postern::core {

AdminServer::AdminServer(EventLoop& loop, const Endpoint& address, const MetricsRegistry& metrics,
                         const std::string& file, const std::string& key)
    : metrics_(metrics), http_(evhttp_new(loop.base())) {
  if (http_ == nullptr) throw ConfigError(file, key, "cannot create the admin HTTP server");
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
  evhttp_set_max_headers_size(http_, 16 * 1024);
  evhttp_set_max_body_size(http_, 0);
  evhttp_set_timeout(http_, 10);
  evhttp_set_gencb(http_, &AdminServer::on_request, this);
  std::string host = address.host.empty() ? "0.0.0.0" : address.host;
  if (evhttp_bind_socket(http_, host.c_str(), address.port) != 0) {
    evhttp_free(http_);
    http_ = nullptr;
    throw ConfigError(
        file, key,
        fmt::format("cannot listen on {}: {}", address.to_string(), std::strerror(errno)));
  }
}

AdminServer::~AdminServer() {
  if (http_ != nullptr) evhttp_free(http_);
}

void AdminServer::add_action(const std::string& path, std::function<std::string()> action) {
  actions_[path] = std::move(action);
}

void AdminServer::on_request(evhttp_request* req, void* self) noexcept {
  auto* s = static_cast<AdminServer*>(self);
  const char* uri = evhttp_request_get_uri(req);
  std::string path = uri != nullptr ? uri : "";
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  evbuffer* body = evbuffer_new();
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  int code = 200;
  const char* reason = "OK";
  auto action = s->actions_.find(path);
  bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
  if (action != s->actions_.end() || post) {
    if (action == s->actions_.end()) {
      code = 404;
      reason = "Not Found";
      evbuffer_add(body, "not found\n", 10);
    } else if (!post) {
      code = 405;
      reason = "Method Not Allowed";
      evbuffer_add(body, "use POST\n", 9);
      evhttp_add_header(headers, "Allow", "POST");
    } else {
      auto text = action->second();
      evbuffer_add(body, text.data(), text.size());
    }
    evhttp_add_header(headers, "Content-Type", "text/plain");
  } else if (path == "/metrics") {
    auto text = s->metrics_.render();
    evbuffer_add(body, text.data(), text.size());
    evhttp_add_header(headers, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  } else if (path == "/health") {
    evbuffer_add(body, "ok\n", 3);
    evhttp_add_header(headers, "Content-Type", "text/plain");
  } else {
    code = 404;
    evbuffer_add(body, "not found\n", 10);
    evhttp_add_header(headers, "Content-Type", "text/plain");
  }
  if (code == 404) reason = "Not Found";
  evhttp_send_reply(req, code, reason, body);
  evbuffer_free(body);
}

}  // namespace postern::core
