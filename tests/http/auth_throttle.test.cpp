#include <doctest/doctest.h>

#include "http/auth_throttle.hpp"

using namespace muster;
using namespace muster::http;

SCENARIO("an address that keeps failing authentication is refused until its window ends") {
  ManualClock clock;
  AuthThrottle throttle({3, 60'000, 100}, clock);
  for (int failure = 0; failure < 3; ++failure) {
    CHECK_FALSE(throttle.retry_after_seconds("10.0.0.1").has_value());
    throttle.record_failure("10.0.0.1");
  }
  CHECK(throttle.retry_after_seconds("10.0.0.1") == std::optional<std::int64_t>(60));
  CHECK_FALSE(throttle.retry_after_seconds("10.0.0.2").has_value());
  clock.advance_ms(59'001);
  CHECK(throttle.retry_after_seconds("10.0.0.1") == std::optional<std::int64_t>(1));
  clock.advance_ms(999);
  CHECK_FALSE(throttle.retry_after_seconds("10.0.0.1").has_value());
  throttle.record_failure("10.0.0.1");  // a new window starts counting from one
  CHECK_FALSE(throttle.retry_after_seconds("10.0.0.1").has_value());
}

TEST_CASE("the throttle's memory stays bounded under a flood of addresses") {
  ManualClock clock;
  AuthThrottle throttle({1, 60'000, 10}, clock);
  for (int address = 0; address < 1000; ++address) throttle.record_failure("a" + std::to_string(address));
  // The table was cleared when full: the newest addresses are tracked, old ones forgotten.
  CHECK(throttle.retry_after_seconds("a999").has_value());
  CHECK_FALSE(throttle.retry_after_seconds("a0").has_value());
}
