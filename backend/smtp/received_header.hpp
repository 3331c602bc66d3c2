// The trace field the node prepends to every message it accepts (RFC 5321
// 4.4, with the "with" keywords of RFC 3848: ESMTP, ESMTPS, ESMTPA, ESMTPSA).
#pragma once
#include <ctime>
#include <string>

namespace postern::node::smtp {

struct ReceivedInfo {
  std::string helo;            // as the client said it
  std::string client_address;  // "192.0.2.1" or "2001:db8::1"
  std::string by;              // our host name
  bool esmtp = true;           // EHLO (else HELO: "SMTP")
  bool tls = false;
  bool authenticated = false;
  std::string tls_description;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"
  std::string id;               // the queue id
  std::string recipient;        // "for <...>" when there is exactly one
  std::time_t when = 0;
};

// "Received: from helo ([192.0.2.1])\r\n\tby ... with ESMTPS (TLSv1.3 ...)\r\n\tfor <a@b>;
// date\r\n"
std::string received_header(const ReceivedInfo& info);

// RFC 5322 date-time in UTC: "Sat, 21 Nov 2026 19:40:00 +0000".
std::string rfc5322_date(std::time_t when);

}  // namespace postern::node::smtp
