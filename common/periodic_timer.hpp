#pragma once
/// Something to do every so often (save last-seen times, write snapshots),
/// on a TimerService, with a stop that means it: once stop() returns, the
/// task is not running and never runs again, even if its timer was already
/// firing on the service's thread.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "common/timers.hpp"

namespace muster {

class PeriodicTimer {
 public:
  /// Runs `task` every `interval_ms` (measured from the end of the previous
  /// run) on `timers`' thread, from start() until stop(). `timers` must
  /// outlive this. `task` must not call stop().
  PeriodicTimer(TimerService& timers, TimeMs interval_ms, std::function<void()> task);
  /// stop().
  ~PeriodicTimer();
  PeriodicTimer(const PeriodicTimer&) = delete;
  PeriodicTimer& operator=(const PeriodicTimer&) = delete;

  /// Arms the first run. Once only.
  void start();
  /// Cancels the next run and waits for a run in progress. Idempotent.
  void stop();

 private:
  struct State;
  static void arm(const std::shared_ptr<State>& state);

  // Shared with the armed timer's callback, which may outlive this object.
  std::shared_ptr<State> state_;
};

}  // namespace muster
