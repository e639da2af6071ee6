#pragma once
/// Deadlines for a million keys without a timer each: entries fall into
/// buckets of `resolution_ms`, and the wheel keeps exactly one TimerService
/// timer armed, for its earliest bucket. CAF's own timers go through one clock
/// thread that stalls at this scale (see shared/NOTES.md), hence this.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/timers.hpp"

namespace muster {

/// Fires keys when their deadlines come, in batches.
///
/// An entry falls into the bucket of its deadline rounded UP to a multiple of
/// `resolution_ms`: it never fires early and at most `resolution_ms` late. A
/// deadline that is already past (or is now) goes to the next bucket after
/// now, so it fires within `resolution_ms`, never inside schedule(); this also
/// lets a handler re-schedule a key whose deadline has passed without the
/// wheel firing again and again at one instant.
///
/// When the armed timer fires, `on_due` gets every key whose bucket is due, on
/// the timer's thread (the RealTimerService thread, or inside
/// ManualTimerService::advance), and the wheel re-arms for its next bucket.
/// The handler is never called concurrently with itself, nor with the wheel's
/// lock held: it may call schedule() (and stop()). What it throws is logged;
/// the keys it had are dropped and the wheel goes on.
///
/// Thread-safe: schedule() may be called from many threads at once. Memory: an
/// entry costs its Key in a bucket's vector (vectors grow by doubling), plus a
/// map node per bucket; there is no std::function or node per entry.
/// `timers` must outlive the wheel.
template <class Key>
class TimeoutWheel {
 public:
  using Handler = std::function<void(std::vector<Key>& due)>;

  /// `resolution_ms` below 1 counts as 1.
  TimeoutWheel(TimerService& timers, TimeMs resolution_ms, Handler on_due)
      : state_(std::make_shared<State>(timers, resolution_ms > 0 ? resolution_ms : 1, std::move(on_due))) {}
  /// stop().
  ~TimeoutWheel() { stop(); }
  TimeoutWheel(const TimeoutWheel&) = delete;
  TimeoutWheel& operator=(const TimeoutWheel&) = delete;

  /// Fires `key` once the time reaches `deadline_ms`. Not deduplicated:
  /// callers keep at most one entry per key. Ignored after stop().
  void schedule(TimeMs deadline_ms, Key key) { state_->schedule(deadline_ms, std::move(key)); }

  /// Entries waiting (not counting those handed to a running handler).
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->size;
  }

  TimeMs resolution_ms() const { return state_->resolution_ms; }

  /// Drops every entry, cancels the armed timer and waits for a running
  /// handler to return (unless called from that handler); later schedule()
  /// calls are ignored and the handler is not called again. Idempotent.
  void stop() { state_->stop(); }

 private:
  // Shared with the armed timer's callback through a weak_ptr: a timer that
  // could not be cancelled (it was already running) finds the wheel gone, or
  // keeps its state alive until it returns.
  struct State : std::enable_shared_from_this<State> {
    State(TimerService& timers_in, TimeMs resolution_in, Handler on_due_in)
        : timers(timers_in), resolution_ms(resolution_in), on_due(std::move(on_due_in)) {}

    /// The bucket of `deadline_ms`: its first multiple of the resolution at or
    /// after the deadline, and after `now_ms`.
    TimeMs bucket_of(TimeMs deadline_ms, TimeMs now_ms) const {
      const TimeMs target = deadline_ms > now_ms ? deadline_ms : now_ms + 1;
      TimeMs quotient = target / resolution_ms;
      if (target % resolution_ms > 0) ++quotient;  // division truncates towards zero
      // Saturate rather than overflow: the last bucket is still never early.
      if (quotient > std::numeric_limits<TimeMs>::max() / resolution_ms) {
        return std::numeric_limits<TimeMs>::max();
      }
      return quotient * resolution_ms;
    }

    void schedule(TimeMs deadline_ms, Key key) {
      const TimeMs bucket = bucket_of(deadline_ms, timers.now_ms());
      std::lock_guard<std::mutex> lock(mutex);
      if (stopped) return;
      buckets[bucket].push_back(std::move(key));
      ++size;
      if (armed_id == 0 || bucket < armed_at) arm_locked(bucket);
    }

    /// Arms the one timer for `bucket`, replacing the armed one. Calling into
    /// the timer service with the lock held is allowed: it never runs a
    /// callback inside schedule_at or cancel.
    void arm_locked(TimeMs bucket) {
      // If the cancel fails, that timer is running now: it will find its
      // arming stale and, at worst, nothing due.
      if (armed_id != 0) timers.cancel(armed_id);
      const std::uint64_t arming = ++armings;
      armed_id = timers.schedule_at(bucket, [weak = this->weak_from_this(), arming] {
        if (const std::shared_ptr<State> state = weak.lock()) state->on_timer(arming);
      });
      // 0 when the timer service has stopped (shutting down): nothing fires,
      // and the next schedule() tries again.
      armed_at = bucket;
      armed_arming = arming;
    }

    void on_timer(std::uint64_t arming) {
      std::unique_lock<std::mutex> lock(mutex);
      if (arming == armed_arming) armed_id = 0;
      // With a service that runs callbacks on several threads, the one firing
      // now re-arms when it is done; that keeps the handler to one at a time.
      if (stopped || firing) return;
      firing = true;
      firing_thread = std::this_thread::get_id();
      {
        std::vector<Key> due = take_due_locked(timers.now_ms());
        if (!due.empty()) {
          lock.unlock();
          call_handler(due);
          due = std::vector<Key>();  // released outside the lock
          lock.lock();
        }
      }
      firing = false;
      firing_thread = std::thread::id();
      idle.notify_all();
      if (stopped || buckets.empty()) return;
      // Keys may have come due while the handler ran: an armed deadline in the
      // past makes the timer service fire again as soon as it can.
      const TimeMs first = buckets.begin()->first;
      if (armed_id == 0 || first < armed_at) arm_locked(first);
    }

    std::vector<Key> take_due_locked(TimeMs now_ms) {
      std::vector<Key> due;
      auto bucket = buckets.begin();
      while (bucket != buckets.end() && bucket->first <= now_ms) {
        if (due.empty()) {
          due = std::move(bucket->second);
        } else {
          due.insert(due.end(), std::make_move_iterator(bucket->second.begin()),
                     std::make_move_iterator(bucket->second.end()));
        }
        bucket = buckets.erase(bucket);
      }
      size -= due.size();
      return due;
    }

    void call_handler(std::vector<Key>& due) {
      try {
        on_due(due);
      } catch (const std::exception& e) {
        log::error("timeout wheel handler threw", {{"error", e.what()}});
      } catch (...) {
        log::error("timeout wheel handler threw", {{"error", "non-standard exception"}});
      }
    }

    void stop() {
      std::map<TimeMs, std::vector<Key>> dropped;
      {
        std::unique_lock<std::mutex> lock(mutex);
        stopped = true;
        if (armed_id != 0) timers.cancel(armed_id);
        armed_id = 0;
        dropped.swap(buckets);
        size = 0;
        // The handler may use what the wheel's owner is about to destroy.
        if (firing_thread != std::this_thread::get_id()) idle.wait(lock, [this] { return !firing; });
      }
      // `dropped` (keys may own much) is released here, outside the lock.
    }

    TimerService& timers;
    const TimeMs resolution_ms;
    const Handler on_due;

    mutable std::mutex mutex;
    std::map<TimeMs, std::vector<Key>> buckets;
    std::size_t size = 0;
    bool stopped = false;
    // The armed timer (0: none), its bucket, and which arming it is: a timer
    // that fires after being replaced must not clear its successor.
    TimerService::TimerId armed_id = 0;
    TimeMs armed_at = 0;
    std::uint64_t armed_arming = 0;
    std::uint64_t armings = 0;
    // A handler is running (on firing_thread); stop() waits for it to end.
    bool firing = false;
    std::thread::id firing_thread;
    std::condition_variable idle;
  };

  std::shared_ptr<State> state_;
};

}  // namespace muster
