#include <doctest/doctest.h>

#include "common/time_format.hpp"

using namespace muster;

TEST_CASE("durations are a whole number and a unit") {
  CHECK(*parse_duration_ms("500ms") == 500);
  CHECK(*parse_duration_ms("2s") == 2000);
  CHECK(*parse_duration_ms("5m") == 300'000);
  CHECK(*parse_duration_ms("1h") == 3'600'000);
  CHECK(*parse_duration_ms("30d") == 30LL * 86'400'000);
  CHECK(*parse_duration_ms("0s") == 0);
  for (const char* bad :
       {"", "s", "10", "-5s", "+5s", "1.5s", "5 s", "5S", "5sec", "99999999999999999999s", "40000d"}) {
    CAPTURE(bad);
    const auto parsed = parse_duration_ms(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::invalid_argument);
  }
}

TEST_CASE("RFC 3339 timestamps round-trip in UTC with milliseconds") {
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339(1'700'000'000'123) == "2023-11-14T22:13:20.123Z");
  CHECK(format_rfc3339(951'782'400'000) == "2000-02-29T00:00:00.000Z");
  for (TimeMs time : {0LL, 1LL, 951'782'400'000LL, 1'700'000'000'123LL, 4'102'444'800'999LL}) {
    CHECK(*parse_rfc3339(format_rfc3339(time)) == time);
  }
}

TEST_CASE("RFC 3339 parsing honours offsets, fractions and rejects nonsense") {
  CHECK(*parse_rfc3339("2023-11-14T22:13:20Z") == 1'700'000'000'000);
  CHECK(*parse_rfc3339("2023-11-14T23:13:20+01:00") == 1'700'000'000'000);
  CHECK(*parse_rfc3339("2023-11-14T21:43:20-00:30") == 1'700'000'000'000);
  CHECK(*parse_rfc3339("2023-11-14t22:13:20.5z") == 1'700'000'000'500);
  CHECK(*parse_rfc3339("2023-11-14 22:13:20.123456Z") == 1'700'000'000'123);
  for (const char* bad : {"", "2023-11-14", "2023-11-14T22:13:20", "2023-13-01T00:00:00Z",
                          "2023-02-29T00:00:00Z", "2023-11-14T24:00:00Z", "2023-11-14T22:13:20.Z",
                          "2023-11-14T22:13:20+1:00", "2023-11-14T22:13:20Zjunk", "abcd-11-14T22:13:20Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rfc3339(bad).ok());
  }
}
