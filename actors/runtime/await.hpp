#pragma once
/// The blocking form of an asynchronous call, for tests, the CLI and
/// blocking front ends: an event loop waits on the callback instead.

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

/// Runs `start(done)` and waits at most `timeout_ms` for `done`; then
/// `unavailable` with `timeout_code`. `done` may run on any thread, also
/// after the wait gave up.
template <class T, class Start>
Result<T> await_result(Start&& start, TimeMs timeout_ms, const std::string& timeout_code) {
  auto answer = std::make_shared<std::promise<Result<T>>>();
  auto ready = answer->get_future();
  start([answer](Result<T> result) { answer->set_value(std::move(result)); });
  if (ready.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
    return make_error(ErrorCode::unavailable, "no answer in time; retry", timeout_code);
  }
  return ready.get();
}

}  // namespace muster
