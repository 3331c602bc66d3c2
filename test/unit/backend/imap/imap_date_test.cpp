#include "backend/imap/imap_date.hpp"

#include <doctest/doctest.h>

using namespace postern::node;
using namespace postern::node::imap;

TEST_CASE("imap date: format_date_time shows the time in the date's own zone") {
  // 1996-07-17 09:44:25 UTC
  CHECK(format_date_time({837596665, -420}) == "\"17-Jul-1996 02:44:25 -0700\"");
  CHECK(format_date_time({837596665, 0}) == "\"17-Jul-1996 09:44:25 +0000\"");
  CHECK(format_date_time({837596665, 330}) == "\"17-Jul-1996 15:14:25 +0530\"");
  CHECK(format_date_time({0, 0}) == "\"01-Jan-1970 00:00:00 +0000\"");
  // Crossing midnight backwards, and before the epoch.
  CHECK(format_date_time({0, -60}) == "\"31-Dec-1969 23:00:00 -0100\"");
  CHECK(format_date_time({-86400 * 365, 0}) == "\"01-Jan-1969 00:00:00 +0000\"");
  // 2000-02-29 12:00:00 UTC: a leap day.
  CHECK(format_date_time({951825600, 0}) == "\"29-Feb-2000 12:00:00 +0000\"");
  // Out of range years are clamped, never garbage.
  CHECK(format_date_time({std::int64_t{1} << 50, 0}) == "\"31-Dec-9999 23:59:59 +0000\"");
}

TEST_CASE("imap date: parse_date_time reads APPEND's date-time") {
  auto d = parse_date_time("17-Jul-1996 02:44:25 -0700");
  REQUIRE(d.has_value());
  CHECK(d->seconds == 837596665);
  CHECK(d->zone_minutes == -420);
  // Day as " 7", "7" or "07"; month in any case.
  for (const char* text :
       {" 7-Jul-1996 02:44:25 +0000", "7-jul-1996 02:44:25 +0000", "07-JUL-1996 02:44:25 +0000"}) {
    CAPTURE(text);
    auto p = parse_date_time(text);
    REQUIRE(p.has_value());
    CHECK(p->seconds == 837596665 - 10 * 86400 - 7 * 3600);
    CHECK(p->zone_minutes == 0);
  }
  auto east = parse_date_time("01-Jan-1970 05:30:00 +0530");
  REQUIRE(east.has_value());
  CHECK(east->seconds == 0);
  CHECK(east->zone_minutes == 330);
  // Round trip through the formatter.
  CHECK(format_date_time(*parse_date_time("29-Feb-2024 23:59:59 -1130")) ==
        "\"29-Feb-2024 23:59:59 -1130\"");
}

TEST_CASE("imap date: parse_date_time refuses malformed and impossible dates") {
  for (const char* text :
       {"", "17-Jul-1996", "17-Jul-1996 02:44:25", "17-Jul-1996 02:44 -0700",
        "17-Jly-1996 02:44:25 -0700", "30-Feb-2000 00:00:00 +0000", "29-Feb-1900 00:00:00 +0000",
        "0-Jan-2000 00:00:00 +0000", "17-Jul-96 02:44:25 -0700", "17-Jul-1996 24:00:00 +0000",
        "17-Jul-1996 02:60:00 +0000", "17-Jul-1996 02:44:25 +2400", "17-Jul-1996 02:44:25 +0060",
        "17-Jul-1996 02:44:25 0700", "17-Jul-1996 02:44:25 -0700 ", "  7-Jul-1996 02:44:25 +0000",
        " 17-Jul-1996 02:44:25 +0000", "117-Jul-1996 02:44:25 +0000",
        "\"17-Jul-1996 02:44:25 -0700\""}) {
    CAPTURE(text);
    CHECK_FALSE(parse_date_time(text).has_value());
  }
}

TEST_CASE("imap date: parse_date gives midnight UTC of a SEARCH date") {
  CHECK(parse_date("1-Feb-1994") == 760060800);
  CHECK(parse_date("01-feb-1994") == 760060800);
  CHECK(parse_date("29-Feb-2000") == 951782400);
  CHECK(parse_date("31-Dec-1969") == -86400);
  CHECK_FALSE(parse_date("1-Feb-94").has_value());
  CHECK_FALSE(parse_date("1 Feb 1994").has_value());
  CHECK_FALSE(parse_date("29-Feb-2001").has_value());
  CHECK_FALSE(parse_date("1-Feb-1994 ").has_value());
  CHECK_FALSE(parse_date("").has_value());
}

TEST_CASE("imap date: parse_rfc5322_date reads Date: headers leniently") {
  // 1994-02-08 05:52:25 UTC
  const std::int64_t t = 760686745;
  CHECK(parse_rfc5322_date("Mon, 7 Feb 1994 21:52:25 -0800") == t);
  CHECK(parse_rfc5322_date("7 Feb 1994 21:52:25 -0800") == t);
  CHECK(parse_rfc5322_date("Mon, 07 Feb 1994 21:52:25 -0800 (PST)") == t);
  CHECK(parse_rfc5322_date("Mon, 7 Feb 1994 21:52:25 PST") == t);
  CHECK(parse_rfc5322_date("Mon,7 Feb 94 21:52:25 -0800") == t);
  CHECK(parse_rfc5322_date("Tue, 8 Feb 1994 05:52:25 GMT") == t);
  CHECK(parse_rfc5322_date("Tue, 8 Feb 1994 05:52:25") == t);
  CHECK(parse_rfc5322_date("Tue, 8 February 1994 05:52:25 +0000") == t);
  CHECK(parse_rfc5322_date("  Tue (comment, here) 8 Feb 1994 05:52:25 UT") == t);
  CHECK(parse_rfc5322_date("Tue Feb  8 05:52:25 1994") == t);  // asctime order
  CHECK(parse_rfc5322_date("8-Feb-1994 05:52:25 +0000") == t);
  CHECK(parse_rfc5322_date("Tue, 8 Feb 1994 05:52 +0000") == t - 25);
  CHECK(parse_rfc5322_date("8 Feb 1994") == t - (5 * 3600 + 52 * 60 + 25));
  CHECK(parse_rfc5322_date("1 Jan 49 00:00:00 +0000") == 2493072000);   // 2049
  CHECK(parse_rfc5322_date("1 Jan 50 00:00:00 +0000") == -631152000);   // 1950
  CHECK(parse_rfc5322_date("1 Jan 103 00:00:00 +0000") == 1041379200);  // 2003
  CHECK_FALSE(parse_rfc5322_date("").has_value());
  CHECK_FALSE(parse_rfc5322_date("yesterday").has_value());
  CHECK_FALSE(parse_rfc5322_date("31 Feb 2001 00:00:00 +0000").has_value());
  CHECK_FALSE(parse_rfc5322_date("Feb 2001").has_value());
}

TEST_CASE("imap date: days_from_civil") {
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(2000, 3, 1) == 11017);
  CHECK(days_from_civil(1969, 12, 31) == -1);
}
