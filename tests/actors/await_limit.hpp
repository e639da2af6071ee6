#pragma once
// How long the actors suites wait for a service's answer before a case
// fails: ample for a loaded sanitizer build, while a hang still fails.

#include "common/clock.hpp"

namespace muster::testing {

inline constexpr TimeMs kWaitMs = 10'000;

}  // namespace muster::testing
