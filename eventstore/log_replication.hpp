#pragma once
/// Internal to eventstore/: a log that a shared system holds (NATS
/// JetStream: nats_storage.hpp) and a local RocksDB database replicates.
///
/// The RocksDB backend's writer drives it. A group commit goes to the
/// shared log first, as one atomic batch, and into the replica only once the
/// shared log stored it; events that other writers stored are fetched and
/// written into the replica in the shared log's order. So the replica is
/// always a prefix of the shared log, and reads, versions and positions are
/// the replica's.
///
/// Every method runs on the writer thread, one at a time, except `stop`.

#include <cstdint>
#include <functional>
#include <vector>

#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

/// `unavailable`: the batch is full; the append waits for the next one.
inline constexpr const char* kBatchFullReason = "BATCH_FULL";
/// `conflict`: another writer extended the shared log first; nothing of
/// the batch was stored. Catch up, then plan the batch again.
inline constexpr const char* kLogMovedReason = "LOG_MOVED";

/// The file naming the shared log a replica follows, in its directory. A
/// directory that has it is written only through its shared log: the
/// RocksDB backend refuses to open it as a log of its own.
inline constexpr const char* kReplicaMarkFile = "NATS_STREAM";

class LogReplication {
 public:
  virtual ~LogReplication() = default;

  /// Adds one append's events to the batch in the making. Errors, the batch
  /// as it was: `unavailable` with `kBatchFullReason` if the batch has no
  /// room left for them, `invalid_argument` if they exceed an empty batch.
  [[nodiscard]] virtual Status add(const std::vector<Event>& events) = 0;

  /// Stores the batch in the shared log (atomically, durably as the shared
  /// log defines it) and starts an empty one, also on failure. Errors:
  /// `conflict` with `kLogMovedReason`, `io_error` (unreachable or refused:
  /// not stored, or unknown, and then found by the next catch-up).
  [[nodiscard]] virtual Status publish() = 0;

  /// Drops the batch in the making.
  virtual void discard() = 0;

  /// The events the shared log holds after `head_position`, in log order:
  /// at most about `max_events` (whole batches). Empty when the replica is
  /// at the end.
  [[nodiscard]] virtual Result<std::vector<Event>> fetch_after(std::uint64_t head_position,
                                                               std::size_t max_events) = 0;

  /// From now on calls `wake` (on any thread) when another writer may have
  /// stored something; the writer then catches up. Called once, before the
  /// writer starts.
  virtual void on_foreign_write(std::function<void()> wake) = 0;

  /// No more wakes, no more calls. Idempotent; any thread.
  virtual void stop() = 0;
};

}  // namespace muster
