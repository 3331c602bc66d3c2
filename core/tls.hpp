// TLS contexts (OpenSSL 3): TLS 1.2 or later, a modern cipher list, the
// certificate, key and CA paths from configuration; peer verification when we
// are the client (node hops, LDAP is separate: libldap has its own TLS).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "core/config.hpp"
#include "core/handles.hpp"

namespace postern::core {

using SslCtxPtr = CHandle<SSL_CTX, SSL_CTX_free>;
using SslPtr = CHandle<SSL, SSL_free>;

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;              // to verify peers (clients of a server: optional)
  std::string min_version = "1.2";  // "1.2" | "1.3"
  // OpenSSL cipher string for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults):
  // forward secrecy and AEAD only.
  std::string ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20";
  bool verify_peer = true;  // client side: check the server's certificate and name

  // The "tls" object of a listener or a hop. Relative paths are taken from the
  // configuration file's folder.
  static TlsConfig from_config(const ConfigNode& node);
};

// The text of OpenSSL's error queue, emptied.
std::string openssl_errors();

class TlsContext {
 public:
  // Throws ConfigError(file, key, reason) when a file cannot be loaded or the
  // key does not match the certificate.
  static std::shared_ptr<TlsContext> server(const TlsConfig& config, const std::string& file,
                                            const std::string& key);
  static std::shared_ptr<TlsContext> client(const TlsConfig& config, const std::string& file,
                                            const std::string& key);

  SSL_CTX* get() const { return ctx_.get(); }
  // A new SSL object for one connection; `server_name` (client side) sets SNI
  // and the name the certificate must carry.
  SslPtr new_ssl(const std::string& server_name = "") const;
  bool is_server() const { return server_; }

 private:
  TlsContext(SslCtxPtr ctx, bool server, bool verify)
      : ctx_(std::move(ctx)), server_(server), verify_(verify) {}
  SslCtxPtr ctx_;
  bool server_;
  bool verify_;
};

}  // namespace postern::core
