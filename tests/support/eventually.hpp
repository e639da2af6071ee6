#pragma once
// Waiting, bounded, for what another thread or process does: the one poll
// loop tests use where no manual clock can say when it is done.

#include <chrono>
#include <thread>

namespace muster::testing {

/// Polls `condition` every 20 ms until it holds (true) or `timeout` passes (false).
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace muster::testing
