#pragma once
/// A histogram that hot paths record into without a lock or an allocation:
/// `observe` is one search of a short bounds array and two relaxed atomic
/// increments. Read at scrape time as a `HistogramSnapshot`
/// (common/prometheus_text.hpp).
///
/// Observations are integers in a unit the owner picks (microseconds for a
/// latency, a plain count for a batch size), so that the sum is an integer
/// too; `HistogramBuckets::per_base_unit` converts them to the metric's
/// base unit (1,000,000 turns microseconds into seconds) when read.
///
/// Thread safety: `observe` and `snapshot` may run concurrently from any
/// threads. A snapshot taken during observations is consistent in its
/// buckets and count (the count is their total) but its sum may hold an
/// observation the buckets do not yet, or the other way round.

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "common/prometheus_text.hpp"

namespace muster {

/// The upper bounds of a histogram's buckets.
class HistogramBuckets {
 public:
  static constexpr std::size_t kMaxBounds = 24;
  /// `upper_bounds`: ascending, inclusive, in the observations' unit, at
  /// most `kMaxBounds`. `per_base_unit`: observed units in one of the
  /// metric's base unit (a divisor, so that 5 microseconds read as exactly
  /// the double nearest 5e-06).
  HistogramBuckets(std::initializer_list<std::uint64_t> upper_bounds, double per_base_unit);

  const std::vector<std::uint64_t>& upper_bounds() const { return upper_bounds_; }
  double per_base_unit() const { return per_base_unit_; }

 private:
  std::vector<std::uint64_t> upper_bounds_;
  double per_base_unit_;
};

/// Latencies in microseconds, read in seconds: 100 us to 10 s, about three
/// buckets a decade (a synced write and a request both fall in it).
const HistogramBuckets& latency_buckets();

class AtomicHistogram {
 public:
  /// `buckets` must outlive the histogram.
  explicit AtomicHistogram(const HistogramBuckets& buckets) : buckets_(&buckets) {}
  AtomicHistogram(const AtomicHistogram&) = delete;
  AtomicHistogram& operator=(const AtomicHistogram&) = delete;

  void observe(std::uint64_t value) noexcept {
    const std::vector<std::uint64_t>& bounds = buckets_->upper_bounds();
    std::size_t bucket = 0;
    while (bucket < bounds.size() && value > bounds[bucket]) ++bucket;
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
  }

  /// Observations so far.
  std::uint64_t count() const noexcept;
  HistogramSnapshot snapshot() const;

 private:
  const HistogramBuckets* buckets_;
  /// Per bucket, not cumulative; the last one past every bound.
  std::array<std::atomic<std::uint64_t>, HistogramBuckets::kMaxBounds + 1> counts_{};
  std::atomic<std::uint64_t> sum_{0};
};

}  // namespace muster
