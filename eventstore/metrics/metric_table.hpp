#pragma once
/// The ordered key-value families the metrics history keeps beside the log,
/// in the same database (RocksDB: column families of their own; in memory:
/// ordered maps). What the keys and values mean is the history's business
/// (metric_history.hpp); a backend only stores them in key order.
///
/// Writes are atomic across families (all of a batch or nothing, also
/// across a crash) but never synced on their own: metrics are not events,
/// and a crash may lose the last writes (they reach the disk with the next
/// synced append of the log, or the WAL's own writes, whichever comes first).
///
/// Thread safety: every method may be called from any thread concurrently.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace muster {

/// The families, one per level of the history and one for its bookkeeping.
enum class MetricFamily : std::uint8_t {
  raw = 0,     ///< Every point as heard.
  minute = 1,  ///< 1-minute aggregates.
  hour = 2,    ///< 1-hour aggregates.
  day = 3,     ///< 1-day aggregates.
  meta = 4,    ///< Per-series rollup and expiry marks, the names seen per organization.
};
inline constexpr std::size_t kMetricFamilyCount = 5;

/// Puts and erases for `MetricTable::write`, applied in order.
struct MetricBatch {
  struct Operation {
    MetricFamily family = MetricFamily::raw;
    bool erase = false;
    std::string key;
    std::string value;  ///< Empty for an erase.
  };
  std::vector<Operation> operations;

  void put(MetricFamily family, std::string key, std::string value) {
    operations.push_back({family, false, std::move(key), std::move(value)});
  }
  void erase(MetricFamily family, std::string key) { operations.push_back({family, true, std::move(key), {}}); }
  bool empty() const { return operations.empty(); }
  std::size_t size() const { return operations.size(); }
};

/// A position in one family, moving forward in key order. Lives only during
/// the `MetricTable::read` that opened it; one thread.
class MetricCursor {
 public:
  virtual ~MetricCursor() = default;
  /// Moves to the first key at or after `key`.
  virtual void seek(std::string_view key) = 0;
  /// Moves to the next key. REQUIRES: valid().
  virtual void next() = 0;
  /// False past the last key, or after an error (see status()).
  virtual bool valid() const = 0;
  /// The current key and value; views valid until the cursor moves. REQUIRES: valid().
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  /// An error met while moving (`io_error`, `corruption`); success otherwise.
  virtual Status status() const = 0;
};

/// What a read may do: open cursors and look single keys up.
class MetricReader {
 public:
  virtual ~MetricReader() = default;
  virtual std::unique_ptr<MetricCursor> open(MetricFamily family) = 0;
  /// The value under `key`; nullopt if absent. Errors: `io_error`, `corruption`.
  virtual Result<std::optional<std::string>> get(MetricFamily family, std::string_view key) = 0;
};

class MetricTable {
 public:
  virtual ~MetricTable() = default;

  /// Applies `batch` atomically, not synced. Errors: `io_error`,
  /// `unavailable` (read-only or stopped).
  virtual Status write(const MetricBatch& batch) = 0;

  /// Runs `body` with a reader whose cursors must not outlive it. RocksDB's
  /// reader sees one moment of the families (a snapshot); the in-memory one
  /// sees writes made meanwhile (tests read while nothing writes). `body`
  /// must not call `write` (it may run under the storage's lifetime lock):
  /// collect writes and make them after. Errors: those of `body`,
  /// `unavailable` (stopped).
  virtual Status read(const std::function<Status(MetricReader&)>& body) const = 0;

  /// Compacts every metric family down to its final form (tombstones and
  /// overwritten values dropped), so that `stored_bytes` measures what the
  /// data costs. Slow: for benchmarks and tests.
  virtual Status compact() = 0;

  /// Bytes `family` takes in table files (RocksDB: live SST files; in
  /// memory: the sum of key and value sizes).
  virtual Result<std::uint64_t> stored_bytes(MetricFamily family) const = 0;
};

}  // namespace muster
