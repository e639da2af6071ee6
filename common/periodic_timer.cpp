#include "common/periodic_timer.hpp"

namespace muster {

struct PeriodicTimer::State {
  State(TimerService& timers_in, TimeMs interval_in, std::function<void()> task_in)
      : timers(timers_in), interval_ms(interval_in), task(std::move(task_in)) {}

  TimerService& timers;
  const TimeMs interval_ms;
  std::function<void()> task;
  std::mutex mutex;
  std::condition_variable idle;
  bool stopped = false;   ///< Guarded by mutex.
  bool running = false;   ///< Guarded by mutex.
  TimerService::TimerId timer = 0;  ///< Guarded by mutex.
};

PeriodicTimer::PeriodicTimer(TimerService& timers, TimeMs interval_ms, std::function<void()> task)
    : state_(std::make_shared<State>(timers, interval_ms, std::move(task))) {}

PeriodicTimer::~PeriodicTimer() {
  stop();
}

void PeriodicTimer::start() {
  arm(state_);
}

void PeriodicTimer::arm(const std::shared_ptr<State>& state) {
  std::lock_guard<std::mutex> lock(state->mutex);
  if (state->stopped) return;
  state->timer = state->timers.schedule_after(state->interval_ms, [state] {
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      if (state->stopped) return;
      state->running = true;
    }
    state->task();
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      state->running = false;
    }
    state->idle.notify_all();
    arm(state);
  });
}

void PeriodicTimer::stop() {
  TimerService::TimerId timer = 0;
  {
    std::unique_lock<std::mutex> lock(state_->mutex);
    if (!state_->stopped) {
      state_->stopped = true;
      timer = state_->timer;
    }
    state_->idle.wait(lock, [&] { return !state_->running; });
  }
  // Outside the lock: cancel destroys the callback, which holds the state.
  if (timer != 0) state_->timers.cancel(timer);
}

}  // namespace muster
