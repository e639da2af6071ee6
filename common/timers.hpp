#pragma once
/// Time that can schedule: every timeout, bake time, expiry and retention in
/// muster goes through a `TimerService`, so tests advance a
/// `ManualTimerService` and see what falls due run at once, without sleeping.
///
/// CAF's own timers all go through one clock thread that stalls with a
/// million pending timers (see shared/NOTES.md); code that needs a deadline
/// per agent keeps one timer for many deadlines (common/timeout_wheel.hpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "common/clock.hpp"
#include "common/lifecycle.hpp"
#include "common/result.hpp"

namespace muster {

/// A clock that can also schedule work. Implementations are thread-safe: any
/// thread may schedule or cancel, including a callback of the same service.
class TimerService : public Clock {
 public:
  using Callback = std::function<void()>;
  /// Identifies a scheduled timer; never 0, never reused by one service.
  using TimerId = std::uint64_t;

  /// Runs `callback` once, at or after `deadline_ms` (in this service's time,
  /// `now_ms()`), on the service's own thread (real) or inside `advance`
  /// (manual). Timers due at the same time run in scheduling order. A deadline
  /// in the past runs as soon as possible, but never inside schedule_at itself,
  /// so callers may hold their own locks while scheduling. After the service
  /// stopped: returns 0 and destroys `callback` without running it.
  virtual TimerId schedule_at(TimeMs deadline_ms, Callback callback) = 0;

  /// schedule_at(now_ms() + delay_ms, callback).
  TimerId schedule_after(TimeMs delay_ms, Callback callback) {
    return schedule_at(now_ms() + delay_ms, std::move(callback));
  }

  /// Cancels a pending timer and destroys its callback (on the calling
  /// thread, with no lock of the service held). False if the timer ran, is
  /// running, or is unknown (0 included): a caller that must know its callback
  /// will not touch a resource then has to synchronize with the callback.
  virtual bool cancel(TimerId id) = 0;

  /// How many timers wait (a callback that is running no longer counts).
  virtual std::size_t pending() const = 0;
};

/// Real time: a thread of its own runs callbacks in deadline order (ties in
/// scheduling order), one at a time. Time is read from `clock`; the thread
/// waits in real time but re-checks `clock` at least once a second, so a clock
/// that jumps (or a ManualClock set forward) is followed within a second.
///
/// Timers scheduled before start() wait for it. stop() refuses new timers,
/// drops the pending ones (their callbacks are destroyed, not run), waits for
/// a running callback to return and joins the thread; it is idempotent and may
/// be called from several threads. Called from inside a callback, stop() does
/// all that but cannot wait for that callback: the thread ends after it
/// returns, and a later stop() (or the destructor) joins it.
///
/// A callback may call schedule_at, cancel or stop on this service. A callback
/// that throws is logged (common/log.hpp) and the service goes on: no
/// exception leaves the service's thread.
class RealTimerService final : public TimerService, public Service {
 public:
  /// Reads the system's real-time clock.
  RealTimerService();
  /// Reads `clock`, which must outlive the service.
  explicit RealTimerService(const Clock& clock);
  /// stop(). The service may be destroyed from one of its own callbacks.
  ~RealTimerService() override;
  RealTimerService(const RealTimerService&) = delete;
  RealTimerService& operator=(const RealTimerService&) = delete;

  TimeMs now_ms() const override;
  TimerId schedule_at(TimeMs deadline_ms, Callback callback) override;
  bool cancel(TimerId id) override;
  std::size_t pending() const override;

  /// "timers".
  std::string_view name() const override;
  /// Starts the thread. Ok if it runs already; `conflict` after stop() (a
  /// service starts once); `unavailable` if no thread could be created.
  Status start() override;
  void stop() override;

 private:
  struct Impl;
  // Shared with the thread, so that the thread may outlive the object when the
  // service is destroyed from one of its own callbacks.
  std::shared_ptr<Impl> impl_;
};

/// Test time: moves only when told. `advance` moves the time step by step to
/// each due deadline in order and runs what is due at that time on the calling
/// thread, including timers that callbacks schedule within the advanced span;
/// while a callback runs, now_ms() is its deadline (or the time already
/// reached, for a deadline that was past). Time never moves backwards.
///
/// Thread-safe: other threads may schedule, cancel or read the time while one
/// advances; advances from several threads run one after the other. A callback
/// must not advance (that call logs an error and returns 0). A callback that
/// throws is logged and the advance goes on, as with RealTimerService, so code
/// under test sees the same behaviour as in production.
class ManualTimerService final : public TimerService {
 public:
  explicit ManualTimerService(TimeMs start_ms = 1'700'000'000'000);
  ~ManualTimerService() override;
  ManualTimerService(const ManualTimerService&) = delete;
  ManualTimerService& operator=(const ManualTimerService&) = delete;

  TimeMs now_ms() const override;
  TimerId schedule_at(TimeMs deadline_ms, Callback callback) override;
  bool cancel(TimerId id) override;
  std::size_t pending() const override;

  /// advance_to(now_ms() + delta_ms); a negative delta counts as 0 (it still
  /// runs what is due now). Returns how many callbacks ran.
  std::size_t advance(TimeMs delta_ms);
  /// Moves the time to `time_ms` (or leaves it if that is in the past),
  /// running every timer due by then in deadline order. Returns how many
  /// callbacks ran.
  std::size_t advance_to(TimeMs time_ms);

  /// Refuses new timers and drops the pending ones (destroyed, not run). Waits
  /// for an advance running on another thread to finish. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
