#include "backend/imap/imap_date.hpp"

#include <fmt/format.h>

#include <array>
#include <iterator>
#include <vector>

#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

constexpr std::int64_t kSecondsPerDay = 86400;

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

// Howard Hinnant's civil_from_days: exact for the whole proleptic calendar.
Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t year, unsigned month) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads exactly `n` digits at `pos`.
bool read_digits(std::string_view s, std::size_t& pos, std::size_t n, unsigned& value) {
  if (s.size() - pos < n) return false;
  value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(s[pos + i])) return false;
    value = value * 10 + static_cast<unsigned>(s[pos + i] - '0');
  }
  pos += n;
  return true;
}

// 1*2DIGIT
bool read_day(std::string_view s, std::size_t& pos, unsigned& day) {
  if (!read_digits(s, pos, 1, day)) return false;
  unsigned second = 0;
  if (pos < s.size() && is_digit(s[pos])) {
    read_digits(s, pos, 1, second);
    day = day * 10 + second;
  }
  return true;
}

// A month name: its first three letters, case-insensitively. 1..12, or 0.
unsigned month_number(std::string_view word) {
  if (word.size() < 3) return 0;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (mime::iequals(word.substr(0, 3), kMonths[i])) return static_cast<unsigned>(i + 1);
  }
  return 0;
}

bool read_month(std::string_view s, std::size_t& pos, unsigned& month) {
  if (s.size() - pos < 3) return false;
  const std::string_view word = s.substr(pos, 3);
  month = 0;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (mime::iequals(word, kMonths[i])) month = static_cast<unsigned>(i + 1);
  }
  pos += 3;
  return month != 0;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// "dd-Mon-yyyy" at `pos`, with day-of-month validation.
bool read_date(std::string_view s, std::size_t& pos, Civil& date) {
  unsigned day = 0, month = 0, year = 0;
  if (!read_day(s, pos, day) || !expect(s, pos, '-') || !read_month(s, pos, month) ||
      !expect(s, pos, '-') || !read_digits(s, pos, 4, year)) {
    return false;
  }
  if (day == 0 || day > days_in_month(year, month)) return false;
  date = {year, month, day};
  return true;
}

}  // namespace

std::int64_t day_of_time(std::int64_t seconds) {
  std::int64_t day = seconds / 86400;
  if (seconds % 86400 < 0) --day;
  return day;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void append_date_time(std::string& out, std::int64_t seconds, std::int16_t zone_minutes) {
  static const std::int64_t kMin = days_from_civil(0, 1, 1) * kSecondsPerDay;
  static const std::int64_t kMax = days_from_civil(9999, 12, 31) * kSecondsPerDay + 86399;
  std::int64_t local = seconds + std::int64_t{zone_minutes} * 60;
  if (local < kMin) local = kMin;
  if (local > kMax) local = kMax;
  const std::int64_t days = floor_div(local, kSecondsPerDay);
  const std::int64_t in_day = local - days * kSecondsPerDay;
  const Civil c = civil_from_days(days);
  const int zone = zone_minutes < 0 ? -zone_minutes : zone_minutes;
  fmt::format_to(std::back_inserter(out), "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
                 c.day, kMonths[c.month - 1], c.year, in_day / 3600, in_day / 60 % 60, in_day % 60,
                 zone_minutes < 0 ? '-' : '+', zone / 60, zone % 60);
}

std::string format_date_time(store::InternalDate d) {
  std::string out;
  append_date_time(out, d.seconds, d.zone_minutes);
  return out;
}

std::optional<store::InternalDate> parse_date_time(std::string_view s) {
  std::size_t pos = 0;
  if (!s.empty() && s.front() == ' ') {
    pos = 1;
    if (s.size() < 2 || !is_digit(s[1]) || (s.size() > 2 && is_digit(s[2]))) return std::nullopt;
  }
  Civil date{};
  unsigned hh = 0, mm = 0, ss = 0, zh = 0, zm = 0;
  if (!read_date(s, pos, date) || !expect(s, pos, ' ') || !read_digits(s, pos, 2, hh) ||
      !expect(s, pos, ':') || !read_digits(s, pos, 2, mm) || !expect(s, pos, ':') ||
      !read_digits(s, pos, 2, ss) || !expect(s, pos, ' ') || pos >= s.size()) {
    return std::nullopt;
  }
  const char sign = s[pos++];
  if ((sign != '+' && sign != '-') || !read_digits(s, pos, 2, zh) || !read_digits(s, pos, 2, zm) ||
      pos != s.size()) {
    return std::nullopt;
  }
  if (hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59) return std::nullopt;
  const auto zone =
      static_cast<std::int16_t>((sign == '-' ? -1 : 1) * static_cast<int>(zh * 60 + zm));
  const std::int64_t local =
      days_from_civil(date.year, date.month, date.day) * kSecondsPerDay + hh * 3600 + mm * 60 + ss;
  return store::InternalDate{local - std::int64_t{zone} * 60, zone};
}

std::optional<std::int64_t> parse_date(std::string_view s) {
  std::size_t pos = 0;
  Civil date{};
  if (!read_date(s, pos, date) || pos != s.size()) return std::nullopt;
  return days_from_civil(date.year, date.month, date.day) * kSecondsPerDay;
}

namespace {

// Minutes east of UTC for the zone names RFC 5322 4.3 lists; other names
// (military letters, local abbreviations) carry no reliable offset: 0.
int named_zone(std::string_view word) {
  struct Zone {
    std::string_view name;
    int minutes;
  };
  static constexpr Zone kZones[] = {{"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300},
                                    {"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420}};
  for (const Zone& z : kZones) {
    if (mime::iequals(word, z.name)) return z.minutes;
  }
  return 0;
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

bool all_alpha(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

unsigned to_number(std::string_view s) {
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  return v;
}

// "hh:mm" or "hh:mm:ss" in seconds since midnight.
std::optional<unsigned> parse_time(std::string_view s) {
  unsigned parts[3] = {0, 0, 0};
  std::size_t count = 0;
  while (true) {
    const std::size_t colon = s.find(':');
    const std::string_view p = s.substr(0, colon);
    if (count == 3 || p.empty() || p.size() > 2 || !all_digits(p)) return std::nullopt;
    parts[count++] = to_number(p);
    if (colon == std::string_view::npos) break;
    s.remove_prefix(colon + 1);
  }
  if (count < 2 || parts[0] > 23 || parts[1] > 59 || parts[2] > 60) return std::nullopt;
  return parts[0] * 3600 + parts[1] * 60 + parts[2];
}

// Splits on blanks and commas with comments removed; "3-Jun-2019" splits at
// its dashes too (a zone's leading '-' stays).
std::vector<std::string_view> date_words(std::string_view s, std::string& storage) {
  storage.clear();
  int depth = 0;
  for (char c : s) {
    if (c == '(') {
      ++depth;
      storage += ' ';
    } else if (c == ')' && depth > 0) {
      --depth;
    } else {
      storage += depth > 0 ? ' ' : c;
    }
  }
  std::vector<std::string_view> words;
  std::string_view rest = storage;
  auto separator = [](char c) {
    return c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\n';
  };
  while (!rest.empty()) {
    std::size_t i = 0;
    while (i < rest.size() && separator(rest[i])) ++i;
    std::size_t j = i;
    while (j < rest.size() && !separator(rest[j])) ++j;
    std::string_view word = rest.substr(i, j - i);
    rest.remove_prefix(j);
    while (!word.empty() && word.front() != '+' && word.front() != '-' &&
           word.find('-') != std::string_view::npos) {
      const std::size_t dash = word.find('-');
      if (dash > 0) words.push_back(word.substr(0, dash));
      word.remove_prefix(dash + 1);
    }
    if (!word.empty()) words.push_back(word);
  }
  return words;
}

}  // namespace

std::optional<std::int64_t> parse_rfc5322_date(std::string_view s) {
  std::string storage;
  std::optional<unsigned> day, month, time;
  std::optional<std::int64_t> year;
  std::optional<int> zone;
  for (std::string_view w : date_words(s, storage)) {
    if (w.find(':') != std::string_view::npos) {
      if (!time) time = parse_time(w);
    } else if ((w.front() == '+' || w.front() == '-') && w.size() == 5 && all_digits(w.substr(1))) {
      if (!zone && time) {
        const int minutes =
            static_cast<int>(to_number(w.substr(1, 2)) * 60 + to_number(w.substr(3)));
        zone = w.front() == '-' ? -minutes : minutes;
      }
    } else if (all_digits(w)) {
      if (!day && w.size() <= 2) {
        day = to_number(w);
      } else if (!year && w.size() <= 4) {
        const unsigned y = to_number(w);
        year = w.size() == 2 ? (y < 50 ? 2000 + y : 1900 + y) : w.size() == 3 ? 1900 + y : y;
      }
    } else if (all_alpha(w)) {
      if (!month && month_number(w) != 0) {
        month = month_number(w);
      } else if (!zone && time) {
        zone = named_zone(w);
      }
    }
  }
  if (!day || !month || !year || *day == 0 || *day > days_in_month(*year, *month)) {
    return std::nullopt;
  }
  return days_from_civil(*year, *month, *day) * kSecondsPerDay + time.value_or(0) -
         std::int64_t{zone.value_or(0)} * 60;
}

}  // namespace postern::node::imap
