#pragma once
/// Deadlines for a million agents without a timer each: entries fall into
/// buckets of `resolution_ms`, and one caller collects whole buckets when they
/// come due. An entry never fires early; it fires at most `resolution_ms` late
/// (plus the caller's polling delay). CAF's own timers go through one clock
/// thread that stalls at this scale (see shared/NOTES.md), hence this.
///
/// Thread-safe. Entries are not deduplicated: callers keep at most one per target.

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "common/clock.hpp"

namespace muster {

template <class Target>
class TimeoutWheel {
 public:
  explicit TimeoutWheel(TimeMs resolution_ms) : resolution_ms_(resolution_ms > 0 ? resolution_ms : 1) {}

  /// Fires `target` once the time reaches `deadline_ms`.
  void schedule(TimeMs deadline_ms, Target target) {
    // Round up: the bucket's time is never before the deadline.
    const TimeMs bucket = (deadline_ms + resolution_ms_ - 1) / resolution_ms_ * resolution_ms_;
    std::lock_guard<std::mutex> lock(mutex_);
    buckets_[bucket].push_back(std::move(target));
    ++size_;
  }

  /// Removes and returns every target whose bucket time is <= `now_ms`.
  std::vector<Target> take_due(TimeMs now_ms) {
    std::vector<Target> due;
    std::lock_guard<std::mutex> lock(mutex_);
    auto bucket = buckets_.begin();
    while (bucket != buckets_.end() && bucket->first <= now_ms) {
      if (due.empty()) {
        due = std::move(bucket->second);
      } else {
        due.insert(due.end(), std::make_move_iterator(bucket->second.begin()),
                   std::make_move_iterator(bucket->second.end()));
      }
      bucket = buckets_.erase(bucket);
    }
    size_ -= due.size();
    return due;
  }

  /// Entries waiting.
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return size_;
  }

  /// Drops every entry (at shutdown, to release what they hold).
  void clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    buckets_.clear();
    size_ = 0;
  }

 private:
  const TimeMs resolution_ms_;
  mutable std::mutex mutex_;
  std::map<TimeMs, std::vector<Target>> buckets_;
  std::size_t size_ = 0;
};

}  // namespace muster
