#pragma once
/// The read model of bulk jobs: every job's state (actors/bulk/bulk_state.hpp),
/// folded from the "bulk:" streams with the job's own `apply`, so the API
/// answers progress and the bulk service finds, at start, the jobs to resume.
/// It holds no agent ids (a job's first event has them).
///
/// Folded by the projection runner, in log order; snapshotted per job (only
/// the jobs changed since the last snapshot are written). Thread-safe: one
/// writer, many readers.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/bulk/bulk_state.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/keyed_records.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// A page of jobs, newest first.
struct BulkJobPage {
  std::vector<BulkJob> jobs;
  std::optional<std::string> next_after;  ///< Pass as `after` for the next page.
};

class BulkJobs : public ReadModel {
 public:
  /// Folds the events of "bulk:" streams in `batch`, skipping events at or
  /// before `position()`. A failing event is reported and skipped. Returns
  /// the first failure.
  Status apply(const std::vector<Event>& batch) override;
  /// The last log position folded.
  std::uint64_t position() const;

  /// The job `job_id`; nullopt if there is none.
  std::optional<BulkJob> find(const std::string& job_id) const;
  /// Jobs of the organizations `org_scope` covers ("*": all), newest first,
  /// at most `limit`, after the job `after` (the previous page's last).
  /// Errors: `invalid_argument` (field "cursor") for an `after` that is no job.
  Result<BulkJobPage> list(std::string_view org_scope, std::size_t limit,
                           const std::optional<std::string>& after) const;
  /// Jobs not finished yet, oldest first.
  std::vector<BulkJob> unfinished() const;

  static constexpr const char* kSnapshotScope = "bulk";
  std::string_view name() const override { return kSnapshotScope; }
  /// Writes the jobs changed since the last call, and the position they reflect.
  Status save_snapshot(SnapshotStore& store) override;
  /// Loads the snapshot into an empty model; returns the position to fold
  /// after (0, leaving the model empty, for none, one that cannot be read or
  /// one past `head_position`).
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  mutable std::shared_mutex mutex_;
  std::uint64_t position_ = 0;
  std::map<std::string, BulkJob> jobs_;               ///< By job id.
  std::map<std::uint64_t, std::string> by_creation_;  ///< created_position -> job id.
  SnapshotMarks marks_;
};

}  // namespace muster
