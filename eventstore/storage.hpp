#pragma once
/// Everything muster keeps on disk, opened together: the event log, the
/// last-seen table, the snapshots and the metrics history's families. A
/// backend provides all four over one database (RocksDB: rocksdb_storage.hpp;
/// in memory: memory_storage.hpp).
///
/// Thread safety: the accessors and every method of what they return may be
/// called from any thread concurrently, until `stop()`.

#include "eventstore/event_store.hpp"
#include "eventstore/last_seen_store.hpp"
#include "eventstore/metrics/metric_table.hpp"
#include "eventstore/snapshot_store.hpp"

namespace muster {

class Storage {
 public:
  virtual ~Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  virtual EventStore& events() = 0;
  virtual LastSeenStore& last_seen() = 0;
  virtual SnapshotStore& snapshots() = 0;
  /// The metrics history's families (eventstore/metrics/metric_history.hpp).
  virtual MetricTable& metric_table() = 0;

  /// Stops the event store (appends in flight complete), flushes and closes.
  /// Later calls on any of the four answer `unavailable`. Idempotent; the
  /// destructor calls it.
  virtual void stop() = 0;

 protected:
  Storage() = default;
};

}  // namespace muster
