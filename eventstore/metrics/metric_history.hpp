#pragma once
/// The metrics history: every numeric metric an agent's heartbeat carries,
/// kept per agent and metric at four levels, each with its own retention:
/// raw points, then 1-minute, 1-hour and 1-day aggregates {min, max, sum,
/// count, last}. It lives in the data directory's database (metric_table.hpp,
/// layout in metric_codec.hpp); metrics are not events.
///
/// Heartbeats only append to an in-memory buffer (`record`, one short lock
/// and a copy of the names and values); a flusher on the TimerService writes
/// the buffer in one batch every `flush_interval` (the WAL, never synced).
/// No heartbeat thread ever waits on RocksDB. What a crash loses: the points
/// buffered and not yet flushed (at most one flush interval), plus what the
/// unsynced WAL had not handed to the OS; nothing acknowledged in the log
/// depends on them, and the rollups never count a point twice.
///
/// Rollup and expiry run on the TimerService in passes (every
/// `rollup_interval`), each pass in steps of whole agents, stopping once
/// `rollup_batch_series` series or some 8192 writes are done, a timer apart,
/// so no step holds the timer thread long. Flushes, too, write in slices of 8192,
/// so the log's appends never wait behind one large metrics write. For each
/// series a step rolls up buckets that are complete (older than
/// `settle` = two flush intervals + 1 s) from the level below, and expires
/// what is older than each level's retention but only once the level above
/// holds it (raw rows, one per heartbeat, once every series of their agent
/// has them in its minutes). Each series has marks in the meta family: up to
/// where each level is rolled up and expired. A step writes the aggregates (Put: a redo
/// writes the same values) and the marks in one atomic batch, so a restart
/// in the middle of a pass redoes at most that step, and counts nothing twice.
///
/// Reads take each level's stored buckets up to its rollup mark and compute
/// the rest from the level below (so a range is exact before a rollup has
/// run), after flushing the buffer (a read sees every heartbeat recorded
/// before it).
///
/// Thread safety: every method may be called from any thread concurrently.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "actors/agent/agent_id.hpp"
#include "common/lifecycle.hpp"
#include "common/periodic_timer.hpp"
#include "common/result.hpp"
#include "common/timers.hpp"
#include "eventstore/metrics/metric_table.hpp"

namespace muster {

struct MetricHistoryOptions {
  /// How long raw points are kept. Default: 24 h.
  TimeMs raw_retention_ms = 24 * 3'600'000LL;
  /// How long 1-minute aggregates are kept. Default: 7 days.
  TimeMs minute_retention_ms = 7 * 86'400'000LL;
  /// How long 1-hour aggregates are kept. Default: 90 days.
  TimeMs hour_retention_ms = 90 * 86'400'000LL;
  /// How long 1-day aggregates are kept. Default: 365 days.
  TimeMs day_retention_ms = 365 * 86'400'000LL;
  /// How often the buffer is written. Default: 1 s.
  TimeMs flush_interval_ms = 1000;
  /// Time between the end of a rollup pass and the next. Default: 1 min.
  TimeMs rollup_interval_ms = 60'000;
  /// Series handled per step of a pass (whole agents: a step may do more). Default: 1000.
  std::size_t rollup_batch_series = 1000;
  /// Bytes the buffer may hold; points beyond are dropped (and counted)
  /// until the flusher catches up. Default: 256 MiB.
  std::size_t max_buffered_bytes = 256u << 20;
  /// Names remembered per organization for `names`; beyond, new names are
  /// still stored but not listed. Default: 10000.
  std::size_t max_names_per_org = 10'000;
};

/// A level of the history, finest first.
enum class MetricLevel { raw = 0, minute = 1, hour = 2, day = 3 };

/// The width of a level's buckets (raw: 1 ms, a point each).
TimeMs metric_level_resolution_ms(MetricLevel level);

/// Values folded over a span of time. `count` 0: no point in the span (the
/// other fields are then 0).
struct MetricSummary {
  double min = 0;
  double max = 0;
  double sum = 0;
  std::uint64_t count = 0;
  double last = 0;  ///< The value of the latest point.

  double average() const { return count == 0 ? 0 : sum / static_cast<double>(count); }
  /// Folds in a later span.
  void add(const MetricSummary& later);
  friend bool operator==(const MetricSummary& left, const MetricSummary& right) {
    return left.min == right.min && left.max == right.max && left.sum == right.sum &&
           left.count == right.count && left.last == right.last;
  }
};
/// The contract's name for a window's summary (part A reads windows).
using WindowSummary = MetricSummary;

/// One bucket of a read: [time_ms, time_ms + step).
struct MetricPoint {
  TimeMs time_ms = 0;
  MetricSummary summary;
};

/// What the history holds and does, for stats and benchmarks.
struct MetricHistoryStats {
  std::uint64_t points_recorded = 0;
  std::uint64_t points_dropped = 0;  ///< The buffer was full, or a write failed.
  std::uint64_t points_flushed = 0;
  std::uint64_t passes_finished = 0;
  std::size_t buffered_bytes = 0;
};

class MetricHistory : public Service {
 public:
  /// `table` and `timers` must outlive the history.
  MetricHistory(MetricTable& table, TimerService& timers, MetricHistoryOptions options);
  ~MetricHistory() override;
  MetricHistory(const MetricHistory&) = delete;
  MetricHistory& operator=(const MetricHistory&) = delete;

  /// "metrics".
  std::string_view name() const override;
  /// Loads the names seen, starts the flusher and arms the first rollup pass.
  /// Errors: those of reading the table.
  Status start() override;
  /// Stops the timers (a step in progress finishes) and flushes the buffer.
  void stop() override;

  /// Buffers one heartbeat's metrics, heard at `heard_at_ms`. Never blocks on
  /// I/O; drops the points if the buffer is full. Names must be valid metric
  /// names (the API checks them).
  void record(const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
              const std::map<std::string, double>& metrics);

  /// Writes what is buffered now. Errors: those of the table (the points are
  /// then dropped and counted).
  Status flush();

  /// The finest level whose retention still covers `from_ms` (day if none does).
  MetricLevel level_covering(TimeMs from_ms) const;

  /// `agent_id`'s `name` over [from_ms, to_ms) at `level`, folded into
  /// buckets of `step_ms` (a multiple of the level's resolution) aligned to
  /// multiples of `step_ms`; empty buckets are left out. Errors: those of
  /// the table.
  Result<std::vector<MetricPoint>> read(const AgentId& agent_id, std::string_view name, MetricLevel level,
                                        TimeMs from_ms, TimeMs to_ms, TimeMs step_ms);

  /// `name` of `agent_id` over [from_ms, to_ms), folded into one summary, at
  /// the finest level that covers `from_ms` (aggregate buckets count if they
  /// start in the range). Errors: those of the table.
  Result<WindowSummary> window(const AgentId& agent_id, std::string_view name, TimeMs from_ms, TimeMs to_ms);

  /// The names seen in `org`, sorted (at most `max_names_per_org`), after
  /// writing the buffer.
  std::vector<std::string> names(std::string_view org) const;

  /// Runs one step of the current rollup pass (starting a new pass if none
  /// runs) over whole agents until `max_series` series are done. True when
  /// the pass finished.
  /// The timer calls it; tests call it to stop in the middle of a pass.
  Result<bool> roll_up_step(std::size_t max_series);

  MetricHistoryStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
