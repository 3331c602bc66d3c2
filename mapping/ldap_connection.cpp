#include "mapping/ldap_connection.hpp"

#include <ldap.h>
#include <strings.h>

#include <algorithm>

#include "core/log.hpp"

namespace postern::mapping {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  return timeval{static_cast<time_t>(ms.count() / 1000),
                 static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

const std::vector<std::string> kNoValues;

// Entries a single search may return before we stop collecting: a user search
// wants one, a group level a handful. A runaway filter must not grow memory.
constexpr std::size_t kMaxEntries = 4096;

LdapEntry parse_entry(LDAP* ld, LDAPMessage* msg) {
  LdapEntry e;
  if (char* dn = ldap_get_dn(ld, msg)) {
    e.dn = dn;
    ldap_memfree(dn);
  }
  BerElement* ber = nullptr;
  for (char* attr = ldap_first_attribute(ld, msg, &ber); attr != nullptr;
       attr = ldap_next_attribute(ld, msg, ber)) {
    auto& values = e.attributes[attr];
    if (berval** vals = ldap_get_values_len(ld, msg, attr)) {
      for (berval** v = vals; *v != nullptr; ++v) values.emplace_back((*v)->bv_val, (*v)->bv_len);
      ldap_value_free_len(vals);
    }
    ldap_memfree(attr);
  }
  if (ber != nullptr) ber_free(ber, 0);
  return e;
}

}  // namespace

const std::vector<std::string>& LdapEntry::values(std::string_view name) const {
  for (const auto& [k, v] : attributes) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return kNoValues;
}

LdapConnection::LdapConnection(const LdapConfig& config, Role role, std::string name)
    : config_(config), role_(role), name_(std::move(name)) {}

LdapConnection::~LdapConnection() {
  if (ld_ != nullptr) ldap_unbind_ext(ld_, nullptr, nullptr);
}

LDAP* LdapConnection::open(const std::string& uri, std::string& error) {
  LDAP* ld = nullptr;
  int rc = ldap_initialize(&ld, uri.c_str());
  if (rc != LDAP_SUCCESS || ld == nullptr) {
    error = ldap_err2string(rc);
    return nullptr;
  }
  auto fail = [&](int code, const char* what) -> LDAP* {
    error = std::string(what) + ": " + ldap_err2string(code);
    ldap_unbind_ext(ld, nullptr, nullptr);
    return nullptr;
  };
  int version = LDAP_VERSION3;
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  timeval connect_tv = to_timeval(config_.connect_timeout);
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &connect_tv);
  // Bounds the synchronous StartTLS and service bind below.
  timeval op_tv = to_timeval(role_ == Role::Search ? config_.search_timeout : config_.bind_timeout);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op_tv);

  if (!config_.ca_file.empty())
    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, config_.ca_file.c_str());
  int require = config_.tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
  ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
  // TLS options set on a handle take effect only in a context made for it.
  int is_server = 0;
  ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);

  if (config_.starttls && uri.rfind("ldap://", 0) == 0) {
    rc = ldap_start_tls_s(ld, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) return fail(rc, "StartTLS");
  }
  if (role_ == Role::Search) {
    berval cred{static_cast<ber_len_t>(config_.bind_password.size()),
                const_cast<char*>(config_.bind_password.data())};
    const char* dn = config_.bind_dn.empty() ? nullptr : config_.bind_dn.c_str();
    rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) return fail(rc, "service bind");
  } else {
    // Auth connections bind as users later; open the socket now so a dead
    // server is found here and not by the first user's login.
    rc = ldap_connect(ld);
    if (rc != LDAP_SUCCESS) return fail(rc, "connect");
  }
  return ld;
}

bool LdapConnection::connect() {
  disconnect("reconnect");
  for (std::size_t i = 0; i < config_.uris.size(); ++i) {
    std::string error;
    if (LDAP* ld = open(config_.uris[i], error)) {
      ld_ = ld;
      server_index_ = static_cast<int>(i);
      connected_since_ = LdapClock::now();
      core::log_info("ldap_connected").kv("conn", name_).kv("uri", config_.uris[i]);
      return true;
    }
    core::log_warn("ldap_connect_failed")
        .kv("conn", name_)
        .kv("uri", config_.uris[i])
        .kv("error", error);
  }
  return false;
}

bool LdapConnection::reconnect_to_primary() {
  std::string error;
  LDAP* ld = open(config_.uris.front(), error);
  if (ld == nullptr) {
    core::log_debug("ldap_failback_failed")
        .kv("conn", name_)
        .kv("uri", config_.uris.front())
        .kv("error", error);
    connected_since_ = LdapClock::now();  // wait a whole interval before the next try
    return false;
  }
  if (ld_ != nullptr) ldap_unbind_ext(ld_, nullptr, nullptr);
  ld_ = ld;
  server_index_ = 0;
  connected_since_ = LdapClock::now();
  core::log_info("ldap_failback").kv("conn", name_).kv("uri", config_.uris.front());
  return true;
}

void LdapConnection::disconnect(const std::string& reason) {
  for (auto& [id, p] : pending_) orphans_.push_back(std::move(p.request));
  pending_.clear();
  if (ld_ == nullptr) return;
  core::log_info("ldap_disconnected").kv("conn", name_).kv("reason", reason);
  ldap_unbind_ext(ld_, nullptr, nullptr);
  ld_ = nullptr;
  server_index_ = -1;
}

int LdapConnection::descriptor() const {
  if (ld_ == nullptr) return -1;
  int fd = -1;
  if (ldap_get_option(ld_, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS) return -1;
  return fd;
}

void LdapConnection::send(std::unique_ptr<LdapRequest> r) {
  if (ld_ == nullptr) {
    orphans_.push_back(std::move(r));
    return;
  }
  int msgid = -1;
  int rc = LDAP_OTHER;
  switch (r->kind) {
    case LdapRequest::Kind::Search: {
      std::vector<char*> attrs;
      for (auto& a : r->attributes) attrs.push_back(const_cast<char*>(a.c_str()));
      attrs.push_back(nullptr);
      auto secs = std::chrono::ceil<std::chrono::seconds>(config_.search_timeout).count();
      timeval limit{static_cast<time_t>(secs), 0};
      rc = ldap_search_ext(ld_, r->dn.c_str(), r->scope, r->filter.c_str(), attrs.data(), 0,
                           nullptr, nullptr, &limit, static_cast<int>(kMaxEntries), &msgid);
      break;
    }
    case LdapRequest::Kind::Bind: {
      auto secret = r->secret.reveal();
      berval cred{static_cast<ber_len_t>(secret.size()), const_cast<char*>(secret.data())};
      rc = ldap_sasl_bind(ld_, r->dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, &msgid);
      break;
    }
    case LdapRequest::Kind::Compare: {
      auto secret = r->secret.reveal();
      berval value{static_cast<ber_len_t>(secret.size()), const_cast<char*>(secret.data())};
      rc = ldap_compare_ext(ld_, r->dn.c_str(), r->attribute.c_str(), &value, nullptr, nullptr,
                            &msgid);
      break;
    }
  }
  if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR) {
    orphans_.push_back(std::move(r));
    disconnect(ldap_err2string(rc));
    return;
  }
  if (rc != LDAP_SUCCESS) {
    // Refused locally (a filter libldap cannot encode, say): answer now.
    LdapReply reply{LdapOutcome::Success, rc, ldap_err2string(rc), {}};
    r->done(std::move(reply));
    return;
  }
  pending_.emplace(msgid, Pending{std::move(r), {}});
}

std::vector<std::unique_ptr<LdapRequest>> LdapConnection::take_orphans() {
  std::vector<std::unique_ptr<LdapRequest>> out;
  out.swap(orphans_);
  return out;
}

bool LdapConnection::poll_results() {
  while (ld_ != nullptr) {
    LDAPMessage* msg = nullptr;
    timeval zero{0, 0};
    int rc = ldap_result(ld_, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);
    if (rc == 0) return true;
    if (rc == -1) {
      disconnect("connection lost");
      return false;
    }
    handle_message(msg);
    ldap_msgfree(msg);
  }
  return true;
}

void LdapConnection::handle_message(void* message) {
  auto* msg = static_cast<LDAPMessage*>(message);
  auto it = pending_.find(ldap_msgid(msg));
  if (it == pending_.end()) return;  // abandoned after its deadline
  int type = ldap_msgtype(msg);
  if (type == LDAP_RES_SEARCH_ENTRY) {
    if (it->second.entries.size() < kMaxEntries)
      it->second.entries.push_back(parse_entry(ld_, msg));
    return;
  }
  if (type == LDAP_RES_SEARCH_REFERENCE || type == LDAP_RES_INTERMEDIATE) return;
  int code = LDAP_OTHER;
  char* text = nullptr;
  ldap_parse_result(ld_, msg, &code, nullptr, &text, nullptr, nullptr, 0);
  LdapReply reply{LdapOutcome::Success, code, text != nullptr ? text : "",
                  std::move(it->second.entries)};
  if (text != nullptr) ldap_memfree(text);
  auto request = std::move(it->second.request);
  pending_.erase(it);
  request->done(std::move(reply));
}

void LdapConnection::expire(LdapClock::time_point now) {
  bool abandoned_bind = false;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.request->deadline > now) {
      ++it;
      continue;
    }
    if (ld_ != nullptr) ldap_abandon_ext(ld_, it->first, nullptr, nullptr);
    abandoned_bind = abandoned_bind || it->second.request->kind == LdapRequest::Kind::Bind;
    auto request = std::move(it->second.request);
    it = pending_.erase(it);
    request->done(LdapReply{LdapOutcome::Timeout, -1, "no answer from the directory in time", {}});
  }
  // After an abandoned bind the connection's identity is undefined (RFC 4511
  // 4.2.1): start afresh. Anything else pending is retried elsewhere.
  if (abandoned_bind) disconnect("bind timed out");
}

LdapClock::time_point LdapConnection::next_deadline() const {
  auto t = LdapClock::time_point::max();
  for (const auto& [id, p] : pending_) t = std::min(t, p.request->deadline);
  return t;
}

}  // namespace postern::mapping
