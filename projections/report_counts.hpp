#pragma once
/// The agents' own reports, counted: per organization and report type, how
/// many AgentReported events were recorded in each of the last 24 hours, so
/// `/api/v1/stats` answers `reports_24h` without reading the log.
///
/// Hours are whole UTC hours of the events' recorded time (not the agent's
/// `reported_at_ms`, which is the agent's clock): "the last 24 h" is the
/// current hour and the 23 before it. Each (organization, type) keeps a ring
/// of 24 hourly counts; an organization counts at most `kMaxTypesPerOrg`
/// names, reports of further types under `kOtherTypes` (types whose counts
/// all aged out are dropped to make room first), so agents inventing types
/// cannot grow it without bound.
///
/// An agent's organization comes from the agent registry, which the
/// projection runner must fold before this model (it holds an agent's
/// registration before any of its reports then).
///
/// Folded by the projection runner in log order; its snapshot is the whole
/// model (a few counts per type), written when it changed. A data directory
/// without one (written before reports existed) folds the whole log once,
/// as any new read model does.
///
/// Thread safety: one writer (the runner), many readers. It has no part in
/// the heartbeat path.

#include <array>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/agent_registry.hpp"
#include "projections/read_model.hpp"

namespace muster {

class ReportCounts : public ReadModel {
 public:
  static constexpr TimeMs kHourMs = 3'600'000;
  /// Hours counted: the current one and the 23 before it.
  static constexpr std::size_t kHours = 24;
  /// Names counted per organization, at most, `kOtherTypes` included.
  static constexpr std::size_t kMaxTypesPerOrg = 1000;
  /// Where reports of types beyond `kMaxTypesPerOrg` are counted (no report
  /// type can be spelled so).
  static constexpr std::string_view kOtherTypes = "(other)";

  /// `registry` must outlive this, and be folded before it (see above).
  explicit ReportCounts(const AgentRegistry& registry) : registry_(registry) {}

  /// Counts the AgentReported events of `batch` after `position()`. An event
  /// whose payload cannot be read, or of an agent the registry does not
  /// know, is reported and skipped. Returns the first failure.
  Status apply(const std::vector<Event>& batch) override;

  /// The last log position folded.
  std::uint64_t position() const;

  /// Report type -> reports recorded in the hour of `now_ms` and the 23
  /// before it, over the organizations `org_scope` covers ("*": all).
  /// Types without any are left out.
  std::map<std::string, std::uint64_t> last_24h(std::string_view org_scope, TimeMs now_ms) const;

  static constexpr const char* kSnapshotScope = "reports";
  std::string_view name() const override { return kSnapshotScope; }
  /// Writes the whole model and its position, if it changed since the last call.
  Status save_snapshot(SnapshotStore& store) override;
  /// Loads the snapshot into an empty model; returns the position to fold
  /// after (0, leaving the model empty, for none, one that cannot be read or
  /// one past `head_position`).
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  struct Hour {
    std::int64_t hour = -1;  ///< Hours since the epoch; -1: never used.
    std::uint64_t count = 0;
  };
  using Ring = std::array<Hour, kHours>;
  using Types = std::map<std::string, Ring, std::less<>>;

  /// Counts one report of `type` in `org` at `time_ms`. Holds mutex_.
  void count(const std::string& org, const std::string& type, TimeMs time_ms);

  const AgentRegistry& registry_;
  mutable std::shared_mutex mutex_;
  std::uint64_t position_ = 0;
  std::uint64_t snapshot_position_ = 0;
  bool changed_ = false;  ///< Counts changed since the last snapshot.
  std::map<std::string, Types, std::less<>> by_org_;
};

}  // namespace muster
