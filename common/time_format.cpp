#include "common/time_format.hpp"

#include <cstdint>
#include <limits>

#include <fmt/format.h>

namespace muster {
namespace {

constexpr TimeMs kMaxDurationMs = 100LL * 365 * 24 * 3600 * 1000;

Error invalid(std::string_view what, std::string_view text) {
  return make_error(ErrorCode::invalid_argument, fmt::format("invalid {}: '{}'", what, text));
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const unsigned year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

struct CivilDate {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

CivilDate civil_from_days(std::int64_t days) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned day_of_era = static_cast<unsigned>(days - era * 146097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned month_index = (5 * day_of_year + 2) / 153;
  const unsigned day = day_of_year - (153 * month_index + 2) / 5 + 1;
  const unsigned month = month_index < 10 ? month_index + 3 : month_index - 9;
  return {static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2), month, day};
}

bool is_leap(std::int64_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned days_in_month(std::int64_t year, unsigned month) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

// Reads exactly `count` digits at `pos`; false if any is not a digit.
bool read_digits(std::string_view text, size_t pos, size_t count, unsigned& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (size_t offset = 0; offset < count; ++offset) {
    const char digit = text[pos + offset];
    if (digit < '0' || digit > '9') return false;
    out = out * 10 + static_cast<unsigned>(digit - '0');
  }
  return true;
}

}  // namespace

Result<TimeMs> parse_duration_ms(std::string_view text) {
  size_t digits_end = 0;
  std::uint64_t amount = 0;
  while (digits_end < text.size() && text[digits_end] >= '0' && text[digits_end] <= '9') {
    amount = amount * 10 + static_cast<std::uint64_t>(text[digits_end] - '0');
    if (amount > static_cast<std::uint64_t>(kMaxDurationMs)) return invalid("duration", text);
    ++digits_end;
  }
  if (digits_end == 0) return invalid("duration", text);
  const std::string_view unit = text.substr(digits_end);
  std::uint64_t unit_ms = 0;
  if (unit == "ms")
    unit_ms = 1;
  else if (unit == "s")
    unit_ms = 1000;
  else if (unit == "m")
    unit_ms = 60'000;
  else if (unit == "h")
    unit_ms = 3'600'000;
  else if (unit == "d")
    unit_ms = 86'400'000;
  else
    return invalid("duration (use a number with ms, s, m, h or d)", text);
  if (amount > static_cast<std::uint64_t>(kMaxDurationMs) / unit_ms) return invalid("duration", text);
  return static_cast<TimeMs>(amount * unit_ms);
}

std::string format_rfc3339(TimeMs time_ms) {
  std::int64_t days = time_ms / 86'400'000;
  std::int64_t ms_of_day = time_ms % 86'400'000;
  if (ms_of_day < 0) {
    ms_of_day += 86'400'000;
    --days;
  }
  const CivilDate date = civil_from_days(days);
  const std::int64_t seconds_of_day = ms_of_day / 1000;
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", date.year, date.month, date.day,
                     seconds_of_day / 3600, (seconds_of_day / 60) % 60, seconds_of_day % 60,
                     ms_of_day % 1000);
}

Result<TimeMs> parse_rfc3339(std::string_view text) {
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(text, 0, 4, year) || text.size() < 20 || text[4] != '-' ||
      !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !read_digits(text, 11, 2, hour) ||
      text[13] != ':' || !read_digits(text, 14, 2, minute) || text[16] != ':' ||
      !read_digits(text, 17, 2, second)) {
    return invalid("RFC 3339 timestamp (e.g. 2026-11-22T05:51:00Z)", text);
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 60) {
    return invalid("RFC 3339 timestamp (field out of range)", text);
  }
  size_t pos = 19;
  TimeMs fraction_ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const size_t fraction_start = pos;
    TimeMs scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      fraction_ms += (text[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == fraction_start) return invalid("RFC 3339 timestamp (empty fraction)", text);
  }
  TimeMs offset_ms = 0;
  const std::string_view zone = text.substr(pos);
  if (zone == "Z" || zone == "z") {
    offset_ms = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    unsigned offset_hours = 0, offset_minutes = 0;
    if (!read_digits(zone, 1, 2, offset_hours) || !read_digits(zone, 4, 2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return invalid("RFC 3339 timestamp (bad offset)", text);
    }
    offset_ms = (offset_hours * 60 + offset_minutes) * 60'000LL * (zone[0] == '-' ? -1 : 1);
  } else {
    return invalid("RFC 3339 timestamp (needs Z or an offset)", text);
  }
  const std::int64_t days = days_from_civil(year, month, day);
  const TimeMs seconds = days * 86'400 + hour * 3600 + minute * 60 + second;
  return seconds * 1000 + fraction_ms - offset_ms;
}

}  // namespace muster
