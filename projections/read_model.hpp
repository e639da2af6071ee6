#pragma once
/// What the projection runner keeps up to date: a read model folds the log
/// in order, in batches, and snapshots itself so a start folds only the
/// tail. Each model keeps its own snapshot scope (`name()`) and position;
/// the runner folds from the oldest, and a model skips what it holds.

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"

namespace muster {

class ReadModel {
 public:
  virtual ~ReadModel() = default;

  /// The model's snapshot scope, also its name in logs ("fleet", "access", "config").
  virtual std::string_view name() const = 0;
  /// Folds `batch` (consecutive, in log order); events at or before what the
  /// model holds are skipped. A failing event is reported and skipped; the
  /// rest is still folded. Returns the first failure.
  virtual Status apply(const std::vector<Event>& batch) = 0;
  /// Writes what changed since the last call, with the position it reflects.
  virtual Status save_snapshot(SnapshotStore& store) = 0;
  /// Loads the snapshot into an empty model; returns the position to fold
  /// after: 0 (and an empty model) for none, or one that cannot be read or
  /// is past `head_position`.
  virtual Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) = 0;
};

}  // namespace muster
