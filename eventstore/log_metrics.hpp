#pragma once
/// What the event log's writer counts about its group commits, for
/// /metrics: appends and events written, appends per durable write, and
/// how long each durable write took. Every backend's writer records here
/// (backend_support.cpp) when `StoreOptions::metrics` names one.
///
/// Thread safety: the writer thread records with relaxed atomics; any
/// thread may read at any time.

#include <atomic>
#include <cstdint>

#include "common/atomic_histogram.hpp"

namespace muster {

struct LogMetrics {
  /// Appends written (refused ones, a conflict or an invalid batch, are not).
  std::atomic<std::uint64_t> appends{0};
  /// Events those appends carried.
  std::atomic<std::uint64_t> events{0};
  /// Durable writes that failed (their appends answered `io_error`).
  std::atomic<std::uint64_t> failed_writes{0};
  /// Appends per durable write (group commit).
  AtomicHistogram batch_appends{batch_buckets()};
  /// Microseconds per durable write, the sync included: with RocksDB and
  /// `Durability::fsync`, the WAL's fsync is most of it.
  AtomicHistogram write_latency{latency_buckets()};

  /// 1 to 1024 appends (`StoreOptions::max_batch_appends` defaults to 1024), by powers of 2.
  static const HistogramBuckets& batch_buckets() {
    static const HistogramBuckets buckets({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}, 1);
    return buckets;
  }
};

}  // namespace muster
