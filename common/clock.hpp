#pragma once
/// Time is injected: every timeout and timestamp in muster reads a `Clock`,
/// so tests advance a `ManualClock` instead of sleeping.

#include <atomic>
#include <cstdint>

namespace muster {

/// Milliseconds since the Unix epoch, UTC.
using TimeMs = std::int64_t;

/// A source of wall-clock time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs now_ms() const = 0;
};

/// The system's real-time clock.
class SystemClock final : public Clock {
 public:
  TimeMs now_ms() const override;
};

/// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start_ms = 1'700'000'000'000) : now_(start_ms) {}
  TimeMs now_ms() const override { return now_.load(); }
  void advance_ms(TimeMs delta_ms) { now_ += delta_ms; }
  void set_ms(TimeMs now_ms) { now_ = now_ms; }

 private:
  std::atomic<TimeMs> now_;
};

}  // namespace muster
