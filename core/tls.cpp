#include "core/tls.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>

namespace postern::core {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

TlsConfig TlsConfig::from_config(const ConfigNode& n) {
  n.allow_only({"cert", "key", "ca", "min_version", "ciphers", "verify"});
  TlsConfig c;
  c.cert_file = n.path_or("cert", "");
  c.key_file = n.path_or("key", "");
  c.ca_file = n.path_or("ca", "");
  c.min_version = n.choice_or("min_version", {"1.2", "1.3"}, "1.2");
  c.ciphers = n.string_or("ciphers", c.ciphers);
  c.verify_peer = n.boolean_or("verify", true);
  return c;
}

namespace {

SslCtxPtr base_context(const TlsConfig& c, bool server, const std::string& file,
                       const std::string& key) {
  SslCtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) throw ConfigError(file, key, "cannot create a TLS context: " + openssl_errors());
  SSL_CTX_set_min_proto_version(ctx.get(),
                                c.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(ctx.get(), c.ciphers.c_str()) != 1) {
    throw ConfigError(file, key + ".ciphers",
                      "expected an OpenSSL cipher list: " + openssl_errors());
  }
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial writes and moving buffers: what bufferevent_openssl expects.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

}  // namespace

std::shared_ptr<TlsContext> TlsContext::server(const TlsConfig& c, const std::string& file,
                                               const std::string& key) {
  if (c.cert_file.empty())
    throw ConfigError(file, key + ".cert", "missing; expected a PEM certificate file");
  if (c.key_file.empty())
    throw ConfigError(file, key + ".key", "missing; expected a PEM private key file");
  auto ctx = base_context(c, true, file, key);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), c.cert_file.c_str()) != 1) {
    throw ConfigError(file, key + ".cert",
                      fmt::format("cannot load \"{}\": {}", c.cert_file, openssl_errors()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), c.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw ConfigError(file, key + ".key",
                      fmt::format("cannot load \"{}\": {}", c.key_file, openssl_errors()));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    throw ConfigError(file, key + ".key", "the key does not match the certificate");
  }
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(ctx), true, false));
}

std::shared_ptr<TlsContext> TlsContext::client(const TlsConfig& c, const std::string& file,
                                               const std::string& key) {
  auto ctx = base_context(c, false, file, key);
  if (c.verify_peer) {
    bool ok = c.ca_file.empty()
                  ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                  : SSL_CTX_load_verify_locations(ctx.get(), c.ca_file.c_str(), nullptr) == 1;
    if (!ok) {
      throw ConfigError(file, key + ".ca",
                        fmt::format("cannot load CA \"{}\": {}", c.ca_file, openssl_errors()));
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  if (!c.cert_file.empty()) {  // a client certificate, when the peer asks
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), c.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), c.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw ConfigError(file, key + ".cert",
                        "cannot load the client certificate: " + openssl_errors());
    }
  }
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(ctx), false, c.verify_peer));
}

SslPtr TlsContext::new_ssl(const std::string& server_name) const {
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl || server_ || server_name.empty()) return ssl;
  SSL_set_tlsext_host_name(ssl.get(), server_name.c_str());
  if (verify_) {
    // The certificate must name the host (or IP address) we meant to reach.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) != 1) {
      X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
    }
  }
  return ssl;
}

}  // namespace postern::core
