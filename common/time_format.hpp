#pragma once
/// Parsing and printing of the time values users type and read:
/// durations such as "500ms", "2s", "5m", "1h", "30d", and RFC 3339 timestamps.

#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

/// Parses "<digits><unit>" with unit ms, s, m, h or d into milliseconds.
/// Rejects empty input, missing or unknown units, signs, zero-free overflow and
/// values above 100 years; errors are `invalid_argument` naming the input.
Result<TimeMs> parse_duration_ms(std::string_view text);

/// Formats as "2026-11-22T05:51:00.123Z" (always UTC, always milliseconds).
std::string format_rfc3339(TimeMs time_ms);

/// Parses RFC 3339: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", also
/// accepting a space or lowercase 't' as separator and lowercase 'z'.
Result<TimeMs> parse_rfc3339(std::string_view text);

}  // namespace muster
