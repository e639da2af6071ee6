#pragma once
/// The read model of rollouts: every rollout's state
/// (actors/rollout/rollout_state.hpp), folded from the "rollout:" streams
/// with the rollout's own `apply`, so the API lists and shows them and the
/// rollout service finds, at start, the rollouts to run again and, at
/// creation, the ones that hold agents of a new target.
///
/// Folded by the projection runner, in log order; snapshotted per rollout
/// (only those changed since the last snapshot are written). Thread-safe:
/// one writer, many readers.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/rollout/rollout_state.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/keyed_records.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// A page of rollouts, newest first.
struct RolloutPage {
  std::vector<Rollout> rollouts;
  std::optional<std::string> next_after;  ///< Pass as `after` for the next page.
};

class Rollouts : public ReadModel {
 public:
  /// Folds the events of "rollout:" streams in `batch`, skipping events at
  /// or before `position()`. A failing event is reported and skipped.
  /// Returns the first failure.
  Status apply(const std::vector<Event>& batch) override;
  /// The last log position folded.
  std::uint64_t position() const;

  /// The rollout `rollout_id`; nullopt if there is none.
  std::optional<Rollout> find(const std::string& rollout_id) const;
  /// Rollouts of the organizations `org_scope` covers ("*": all), newest
  /// first, at most `limit`, after the rollout `after` (the previous page's
  /// last). Errors: `invalid_argument` (field "cursor") for an `after` that
  /// is no rollout it may see.
  Result<RolloutPage> list(std::string_view org_scope, std::size_t limit,
                           const std::optional<std::string>& after) const;
  /// Rollouts running or paused, oldest first (of every org when `org` is empty).
  std::vector<Rollout> active(std::string_view org = {}) const;

  static constexpr const char* kSnapshotScope = "rollouts";
  std::string_view name() const override { return kSnapshotScope; }
  /// Writes the rollouts changed since the last call, and the position they reflect.
  Status save_snapshot(SnapshotStore& store) override;
  /// Loads the snapshot into an empty model; returns the position to fold
  /// after (0, leaving the model empty, for none, one that cannot be read or
  /// one past `head_position`).
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  mutable std::shared_mutex mutex_;
  std::uint64_t position_ = 0;
  std::map<std::string, Rollout> rollouts_;           ///< By rollout id.
  std::map<std::uint64_t, std::string> by_creation_;  ///< created_position -> rollout id.
  SnapshotMarks marks_;
};

}  // namespace muster
