// Exit codes of posternctl, from sysexits.h, which mail tools share (Dovecot's
// LDA and Postfix use the same values), so operators' scripts can branch on them.
#pragma once

namespace postern::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 64;     // EX_USAGE: bad command line
inline constexpr int kExitNoUser = 67;    // EX_NOUSER: no such account
inline constexpr int kExitSoftware = 70;  // EX_SOFTWARE: internal error
inline constexpr int kExitTempFail = 75;  // EX_TEMPFAIL: try again later
inline constexpr int kExitNoPerm = 77;    // EX_NOPERM: login denied
inline constexpr int kExitConfig = 78;    // EX_CONFIG: configuration error

}  // namespace postern::tools
