// Dates as IMAP writes and reads them: INTERNALDATE's date-time (RFC 3501
// section 9), SEARCH's date, and the RFC 5322 Date: header SENT* keys compare.
// Pure functions on the proleptic Gregorian calendar; no locale, no TZ
// database, nothing that allocates except the returned string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "backend/store/store_types.hpp"

namespace postern::node::imap {

// "\"17-Jul-1996 02:44:25 -0700\"", quotes included: the time as seen in the
// date's own zone. The day has two digits ("07-Jul-1996"), which date-day-fixed
// allows. Years outside 0..9999 are clamped to that range's ends.
std::string format_date_time(store::InternalDate d);

// Appends what format_date_time returns to `out`.
void append_date_time(std::string& out, std::int64_t seconds, std::int16_t zone_minutes);

// APPEND's date-time, unquoted: "dd-Mon-yyyy hh:mm:ss +zzzz" where the day may
// be " 1", "1" or "01" and the month is matched case-insensitively. nullopt for
// anything else, an impossible date, or a zone beyond +-23:59.
std::optional<store::InternalDate> parse_date_time(std::string_view s);

// SEARCH's date ("1-Feb-1994", already unquoted): UTC seconds at 00:00 of that
// day. SEARCH compares days, ignoring time and zone (RFC 3501 6.4.4).
std::optional<std::int64_t> parse_date(std::string_view s);

// A Date: header value (RFC 5322 section 3.3, with the obsolete forms): UTC
// seconds. Lenient: the day name, seconds and zone are optional, two- and
// three-digit years are mapped as RFC 5322 4.3 says, named zones (UT, GMT,
// EST...) are known and other names count as +0000, comments are skipped, and
// the asctime() order "Mon Jun  3 12:00:00 2019" is accepted too.
std::optional<std::int64_t> parse_rfc5322_date(std::string_view s);

// The day a Unix time falls on, in days since 1970-01-01 (rounding down, so
// a time before 1970 falls on a negative day).
std::int64_t day_of_time(std::int64_t seconds);

// Days since 1970-01-01 of a Gregorian date (no range check on the day).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day);

}  // namespace postern::node::imap
