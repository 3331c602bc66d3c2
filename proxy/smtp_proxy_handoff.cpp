// The node's side of the SMTP proxy: the dialogue that hands the client's
// session to its node (see smtp_proxy.hpp), and the small builders it uses.
#include <fmt/format.h>

#include "core/log.hpp"
#include "core/sasl_plain.hpp"
#include "proxy/smtp_proxy.hpp"

namespace postern::proxy {

namespace {

// The node's command line limit (backend/smtp): XCLIENT must fit in it.
constexpr std::size_t kNodeMaxLine = 4096;
// A reply line from the node; RFC 5321 says 512, EHLO replies stay short.
constexpr std::size_t kMaxReplyLine = 2048;

bool iequals_prefix(std::string_view text, std::string_view word) {
  if (text.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    char a = text[i];
    if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 'a' + 'A');
    if (a != word[i]) return false;
  }
  return true;
}

}  // namespace

// ---- Pure parts ----------------------------------------------------------------

std::string smtp_ehlo_reply(const ProxySmtpConfig& smtp, bool starttls, bool auth) {
  // The node's list (backend/smtp/smtp_session.cpp helo()), in its order.
  std::string out = fmt::format("250-{}\r\n", smtp.hostname);
  out += "250-PIPELINING\r\n";
  out += fmt::format("250-SIZE {}\r\n", smtp.max_message_size);
  out += "250-8BITMIME\r\n";
  if (starttls) out += "250-STARTTLS\r\n";
  if (auth) out += "250-AUTH PLAIN LOGIN\r\n";
  out += "250-DSN\r\n";
  out += "250-SMTPUTF8\r\n";
  out += "250 ENHANCEDSTATUSCODES\r\n";
  return out;
}

std::string xtext_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < '!' || c > '~' || c == '+' || c == '=') {
      out += fmt::format("+{:02X}", c);
    } else {
      out += ch;
    }
  }
  return out;
}

std::string xclient_command(const core::PeerAddress& client, std::string_view helo, bool esmtp,
                            std::string_view login) {
  // Postfix's form for an IPv6 ADDR; the node accepts both.
  const std::string addr = (client.ip.v6 ? "IPV6:" : "") + client.ip.to_string();
  std::string line = fmt::format("XCLIENT ADDR={} PORT={}", addr, client.port);
  std::string name = xtext_encode(helo);
  std::string tail = fmt::format(" PROTO={}", esmtp ? "ESMTP" : "SMTP");
  if (!login.empty()) tail += " LOGIN=" + xtext_encode(login);
  // Room for " HELO=" and the CRLF within the node's line limit.
  if (line.size() + tail.size() + name.size() + 8 > kNodeMaxLine) name = "[UNAVAILABLE]";
  return line + " HELO=" + name + tail + "\r\n";
}

SmtpReplyReader::Status SmtpReplyReader::feed(std::string_view line) {
  // RFC 5321 4.2: "ddd-text" continues, "ddd text" or "ddd" ends; every
  // line of one reply carries the same code.
  if (line.size() < 3 || lines_.size() >= kMaxLines) return Status::Malformed;
  int code = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (line[i] < '0' || line[i] > '9') return Status::Malformed;
    code = code * 10 + (line[i] - '0');
  }
  if (code < 200 || code > 599) return Status::Malformed;
  if (!lines_.empty() && code != code_) return Status::Malformed;
  const char sep = line.size() > 3 ? line[3] : ' ';
  if (sep != ' ' && sep != '-') return Status::Malformed;
  code_ = code;
  lines_.emplace_back(line);
  return sep == '-' ? Status::More : Status::Done;
}

void SmtpReplyReader::reset() {
  code_ = 0;
  lines_.clear();
}

std::string SmtpReplyReader::text() const {
  std::string out;
  for (const auto& l : lines_) {
    out += l;
    out += "\r\n";
  }
  return out;
}

bool SmtpReplyReader::has_keyword(std::string_view keyword) const {
  for (std::size_t i = 1; i < lines_.size(); ++i) {
    if (lines_[i].size() < 4) continue;
    std::string_view rest = std::string_view(lines_[i]).substr(4);
    if (iequals_prefix(rest, keyword) &&
        (rest.size() == keyword.size() || rest[keyword.size()] == ' '))
      return true;
  }
  return false;
}

// ---- The hand-off ----------------------------------------------------------------

void SmtpProxySession::on_node_connected() {
  hop_ = Hop::Greeting;
  reader_.reset();
}

void SmtpProxySession::on_node_input() {
  while (state() == State::Handshake && hop_ != Hop::TlsWait) {
    bool too_long = false;
    auto line = node().read_line(kMaxReplyLine, &too_long);
    if (too_long) return fail_node("an overlong line from the node", false);
    if (!line) return;
    switch (reader_.feed(*line)) {
      case SmtpReplyReader::Status::More:
        break;
      case SmtpReplyReader::Status::Malformed:
        return fail_node("a malformed reply from the node: " + line->substr(0, 100), false);
      case SmtpReplyReader::Status::Done: {
        const bool go_on = node_reply();
        reader_.reset();
        if (!go_on) return;
        break;
      }
    }
  }
}

void SmtpProxySession::on_node_tls() {
  // RFC 3207 4.2: what the node said before TLS is forgotten; ask again.
  send_node_ehlo();
}

bool SmtpProxySession::node_reply() {
  const int code = reader_.code();
  switch (hop_) {
    case Hop::Greeting:
      if (code != 220) return unexpected("greeting");
      node_greeted();
      send_node_ehlo();
      return true;
    case Hop::Ehlo:
      if (code != 250) return unexpected("EHLO");
      if (hop_starttls() && !node().tls_active()) {
        hop_ = Hop::StartTls;
        send_node("STARTTLS\r\n");
        return true;
      }
      // Without it the node would refuse XCLIENT (550) anyway; say why.
      if (!reader_.has_keyword("XCLIENT"))
        return unexpected("EHLO (no XCLIENT: is this proxy in the node's trusted_proxies?)");
      send_xclient();
      return true;
    case Hop::StartTls:
      if (code != 220) return unexpected("STARTTLS");
      hop_ = Hop::TlsWait;
      start_node_tls();
      return false;
    case Hop::TlsWait:
      return false;
    case Hop::Xclient:
      // Postfix's form: XCLIENT is answered by a fresh greeting.
      if (code != 220) return unexpected("XCLIENT");
      hop_ = Hop::ClientEhlo;
      send_node(fmt::format("{} {}\r\n", esmtp_ ? "EHLO" : "HELO", helo_));
      return true;
    case Hop::ClientEhlo:
      if (code != 250) return unexpected(esmtp_ ? "EHLO" : "HELO");
      after_client_ehlo();
      return state() == State::Handshake;
    case Hop::Auth:
      if (code == 235) {
        finish_handoff(reader_.text());
      } else if (code / 100 == 4 && code != 421) {
        refused_by_node("454 4.7.0 Temporary authentication failure\r\n");
      } else if (code / 100 == 5) {
        refused_by_node("535 5.7.8 Authentication credentials invalid\r\n");
        if (node_refused_login()) end("Too many failed logins");
      } else {
        return unexpected("AUTH");
      }
      return false;
    case Hop::Mail:
      if (code / 100 == 2) {
        hop_ = Hop::Rcpt;
        send_node(rcpt_line_ + "\r\n");
        return true;
      }
      if (code == 421) return unexpected("MAIL");
      // The node refused the sender (SPF, size...): that is the client's
      // answer. The client thinks its MAIL was taken, so the transaction ends
      // here; its pipelined RCPT and DATA get "need MAIL".
      reset_transaction();
      refused_by_node(reader_.text());
      return false;
    case Hop::Rcpt:
      if (code == 421) return unexpected("RCPT");
      // Accepted or refused, the answer is the node's; the transaction goes
      // on with the node either way.
      finish_handoff(reader_.text());
      return false;
  }
  return false;
}

void SmtpProxySession::send_node_ehlo() {
  hop_ = Hop::Ehlo;
  send_node(fmt::format("EHLO {}\r\n", config().smtp.hostname));
}

void SmtpProxySession::send_xclient() {
  hop_ = Hop::Xclient;
  // LOGIN only for a password the proxy checked itself; otherwise the node
  // checks it (Hop::Auth).
  const bool vouch = submission_ && config().verify_credentials;
  send_node(xclient_command(peer(), helo_, esmtp_, vouch ? user_ : std::string()));
}

void SmtpProxySession::after_client_ehlo() {
  if (!submission_) {
    hop_ = Hop::Mail;
    send_node(mail_line_ + "\r\n");
    return;
  }
  if (config().verify_credentials) {
    finish_handoff("235 2.7.0 Authentication successful\r\n");
    return;
  }
  hop_ = Hop::Auth;
  send_node(fmt::format("AUTH PLAIN {}\r\n", core::encode_plain(auth_user_, password_.reveal())));
  password_ = core::Secret();
}

void SmtpProxySession::finish_handoff(std::string_view client_reply) {
  password_ = core::Secret();
  send(client_reply);
  node_ready();
  start_pump();
}

// The node answered the routing command with a refusal: the client hears it,
// the node connection goes, and the session stays here for the next try.
void SmtpProxySession::refused_by_node(std::string_view client_reply) {
  password_ = core::Secret();
  core::log_info("proxy_node_refused")
      .kv("sid", sid())
      .kv("node", node_name_)
      .kv("answer", reader_.first());
  send(client_reply);
  drop_node();
  enter_state(State::Login);
}

bool SmtpProxySession::unexpected(std::string_view what) {
  fail_node(fmt::format("unexpected answer to {}: {}", what, reader_.first().substr(0, 100)),
            false);
  return false;
}

}  // namespace postern::proxy
