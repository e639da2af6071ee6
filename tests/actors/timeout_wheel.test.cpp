#include <doctest/doctest.h>

#include "actors/timeout_wheel.hpp"

using muster::TimeoutWheel;

TEST_CASE("timeout wheel never fires early and fires whole buckets once") {
  TimeoutWheel<int> wheel(100);
  wheel.schedule(1050, 1);
  wheel.schedule(1100, 2);
  wheel.schedule(1101, 3);
  CHECK(wheel.size() == 3);
  CHECK(wheel.take_due(1099).empty());
  CHECK(wheel.take_due(1100) == std::vector<int>{1, 2});
  CHECK(wheel.take_due(1100).empty());
  CHECK(wheel.take_due(1199).empty());
  CHECK(wheel.take_due(5000) == std::vector<int>{3});
  CHECK(wheel.size() == 0);
}
