#include "common/atomic_histogram.hpp"

#include <algorithm>
#include <cassert>

namespace muster {

HistogramBuckets::HistogramBuckets(std::initializer_list<std::uint64_t> upper_bounds, double per_base_unit)
    : upper_bounds_(upper_bounds), per_base_unit_(per_base_unit) {
  assert(upper_bounds_.size() <= kMaxBounds);
  assert(std::is_sorted(upper_bounds_.begin(), upper_bounds_.end()));
  upper_bounds_.resize(std::min(upper_bounds_.size(), kMaxBounds));
}

const HistogramBuckets& latency_buckets() {
  static const HistogramBuckets buckets({100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000,
                                         250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000},
                                        1e6);
  return buckets;
}

std::uint64_t AtomicHistogram::count() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t bucket = 0; bucket <= buckets_->upper_bounds().size(); ++bucket) {
    total += counts_[bucket].load(std::memory_order_relaxed);
  }
  return total;
}

HistogramSnapshot AtomicHistogram::snapshot() const {
  const std::vector<std::uint64_t>& bounds = buckets_->upper_bounds();
  HistogramSnapshot snapshot;
  snapshot.buckets.reserve(bounds.size());
  std::uint64_t cumulative = 0;
  for (std::size_t bucket = 0; bucket < bounds.size(); ++bucket) {
    cumulative += counts_[bucket].load(std::memory_order_relaxed);
    snapshot.buckets.emplace_back(static_cast<double>(bounds[bucket]) / buckets_->per_base_unit(),
                                  cumulative);
  }
  snapshot.count = cumulative + counts_[bounds.size()].load(std::memory_order_relaxed);
  snapshot.sum = static_cast<double>(sum_.load(std::memory_order_relaxed)) / buckets_->per_base_unit();
  return snapshot;
}

}  // namespace muster
