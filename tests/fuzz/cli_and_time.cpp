// Durations, timestamps and the command lines that carry them. Input: '0' a
// duration, '1' an RFC 3339 timestamp, '2' 8 bytes of milliseconds for
// format_rfc3339, then '3' serve, '4' replay, '5' keys create: arguments
// separated by NUL bytes, as argv arrives.
//
// Durations and timestamps are compared with an independent reading (glibc's
// timegm for dates); the command lines must give a usage error or options
// that keep the rules their parsers enforce.

#include <cstring>
#include <ctime>
#include <string>

#include "app/cli.hpp"
#include "common/time_format.hpp"
#include "http/request_parsing.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using muster::TimeMs;

constexpr TimeMs kMaxDurationMs = 100LL * 365 * 24 * 3600 * 1000;
// format_rfc3339 writes four-digit years only within [0000, 9999].
constexpr TimeMs kYear0Ms = -62'167'219'200'000;
constexpr TimeMs kYear10000Ms = 253'402'300'800'000;

void require_usage_error(const muster::Error& error) {
  FUZZ_REQUIRE(error.code == muster::ErrorCode::invalid_argument);
  FUZZ_REQUIRE(!error.message.empty());
}

std::optional<TimeMs> expected_duration(std::string_view text) {
  std::size_t digits = 0;
  unsigned __int128 amount = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    // Saturates: anything past 2^64 is out of range whatever the unit.
    if (amount < (static_cast<unsigned __int128>(1) << 64)) amount = amount * 10 + (text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  const unsigned __int128 unit_ms = unit == "ms"  ? 1
                                    : unit == "s" ? 1000
                                    : unit == "m" ? 60'000
                                    : unit == "h" ? 3'600'000
                                    : unit == "d" ? 86'400'000
                                                  : 0;
  if (unit_ms == 0 || amount * unit_ms > kMaxDurationMs) return std::nullopt;
  return static_cast<TimeMs>(amount * unit_ms);
}

void check_duration(std::string_view text) {
  const auto parsed = muster::parse_duration_ms(text);
  const auto expected = expected_duration(text);
  if (!parsed) {
    require_usage_error(parsed.error());
    FUZZ_REQUIRE(!expected);
    return;
  }
  FUZZ_REQUIRE(expected && *parsed == *expected);
}

bool read_number(std::string_view text, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (char c : text.substr(pos, count)) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

// The documented grammar, with the date turned into time by glibc rather than muster.
std::optional<TimeMs> expected_rfc3339(std::string_view text) {
  std::tm fields{};
  int year = 0, month = 0, offset_hours = 0, offset_minutes = 0;
  if (text.size() < 20 || !read_number(text, 0, 4, year) || text[4] != '-' ||
      !read_number(text, 5, 2, month) || text[7] != '-' || !read_number(text, 8, 2, fields.tm_mday) ||
      std::string_view("Tt ").find(text[10]) == std::string_view::npos ||
      !read_number(text, 11, 2, fields.tm_hour) || text[13] != ':' ||
      !read_number(text, 14, 2, fields.tm_min) || text[16] != ':' ||
      !read_number(text, 17, 2, fields.tm_sec)) {
    return std::nullopt;
  }
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int month_days[] = {31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || fields.tm_mday < 1 || fields.tm_mday > month_days[month - 1] ||
      fields.tm_hour > 23 || fields.tm_min > 59 || fields.tm_sec > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  TimeMs fraction_ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    const std::size_t start = ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
    const std::string first_three =
        std::string(text.substr(start, std::min<std::size_t>(3, pos - start))) + "00";
    fraction_ms = std::stoi(first_three.substr(0, 3));
  }
  const std::string_view zone = text.substr(pos);
  TimeMs offset_ms = 0;
  if (zone != "Z" && zone != "z") {
    if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':' ||
        !read_number(zone, 1, 2, offset_hours) || !read_number(zone, 4, 2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_ms = (offset_hours * 60 + offset_minutes) * 60'000LL * (zone[0] == '-' ? -1 : 1);
  }
  fields.tm_year = year - 1900;
  fields.tm_mon = month - 1;
  return static_cast<TimeMs>(timegm(&fields)) * 1000 + fraction_ms - offset_ms;
}

void check_format_round_trip(TimeMs time_ms) {
  const std::string formatted = muster::format_rfc3339(time_ms);
  if (time_ms < kYear0Ms || time_ms >= kYear10000Ms) return;
  FUZZ_REQUIRE(formatted.size() == 24);
  const auto reparsed = muster::parse_rfc3339(formatted);
  FUZZ_REQUIRE(reparsed && *reparsed == time_ms);
}

void check_rfc3339(std::string_view text) {
  const auto parsed = muster::parse_rfc3339(text);
  const auto expected = expected_rfc3339(text);
  if (!parsed) {
    require_usage_error(parsed.error());
    FUZZ_REQUIRE(!expected);
    return;
  }
  FUZZ_REQUIRE(expected && *parsed == *expected);
  check_format_round_trip(*parsed);
}

void check_formatting(std::string_view bytes) {
  if (bytes.size() < sizeof(TimeMs)) return;
  TimeMs time_ms = 0;
  std::memcpy(&time_ms, bytes.data(), sizeof time_ms);
  check_format_round_trip(time_ms);
}

void check_serve_args(const std::vector<std::string>& args) {
  const auto parsed = muster::app::parse_serve_args(args);
  if (!parsed) return require_usage_error(parsed.error());
  const muster::app::ServeOptions& options = *parsed;
  FUZZ_REQUIRE(!options.store.path.empty());
  for (const muster::http::ListenerOptions* listener : {&options.http.operators, &options.http.agents}) {
    FUZZ_REQUIRE(listener->port >= 0 && listener->port <= 65535);
    FUZZ_REQUIRE(listener->threads >= 1 && listener->threads <= 256);
    FUZZ_REQUIRE(listener->limits.max_body_bytes >= 1 && listener->limits.max_header_fields >= 1);
    FUZZ_REQUIRE(listener->limits.io_timeout_ms > 0 && listener->limits.idle_timeout_ms > 0);
    FUZZ_REQUIRE(listener->tls_cert_path.empty() == listener->tls_key_path.empty());
  }
  FUZZ_REQUIRE(options.http.operators.tls_cert_path == options.http.agents.tls_cert_path);
  FUZZ_REQUIRE(options.http.api.auth_throttle.max_failures >= 1 &&
               options.http.api.auth_throttle.max_failures <= 1'000'000);
  FUZZ_REQUIRE(options.agents.heartbeat_timeout_ms > 0 && options.agents.agent_token_grace_ms > 0);
  FUZZ_REQUIRE(options.http.api.health.healthy_within_ms > 0);
  FUZZ_REQUIRE(options.http.api.health.healthy_within_ms <= options.http.api.health.warning_within_ms);
}

void check_replay_args(const std::vector<std::string>& args) {
  const auto parsed = muster::app::parse_replay_args(args);
  if (!parsed) return require_usage_error(parsed.error());
  const muster::app::ReplayOptions& options = *parsed;
  FUZZ_REQUIRE(!options.data_dir.empty());
  FUZZ_REQUIRE(!(options.agent_id && options.instance_id));
  FUZZ_REQUIRE(!options.agent_id || muster::http::is_valid_agent_id(*options.agent_id));
  FUZZ_REQUIRE(!options.instance_id || muster::http::is_valid_instance_id(*options.instance_id));
  FUZZ_REQUIRE(!options.at_ms || options.agent_id || options.instance_id);
}

void check_keys_create_args(const std::vector<std::string>& args) {
  const auto parsed = muster::app::parse_keys_create_args(args);
  if (!parsed) return require_usage_error(parsed.error());
  const muster::app::KeysCreateOptions& options = *parsed;
  FUZZ_REQUIRE(!options.data_dir.empty());
  FUZZ_REQUIRE(!options.name.empty() && options.name.size() <= 128);
  FUZZ_REQUIRE(options.org == muster::kAllOrgs || muster::http::is_valid_org(options.org));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto selected = muster::fuzz::select_parser(data, size, 6);
  if (!selected) return 0;
  switch (selected->parser) {
    case 0: check_duration(selected->text); break;
    case 1: check_rfc3339(selected->text); break;
    case 2: check_formatting(selected->text); break;
    case 3: check_serve_args(muster::fuzz::split_on_nul(selected->text)); break;
    case 4: check_replay_args(muster::fuzz::split_on_nul(selected->text)); break;
    case 5: check_keys_create_args(muster::fuzz::split_on_nul(selected->text)); break;
  }
  return 0;
}
