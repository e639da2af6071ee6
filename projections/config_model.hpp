#pragma once
/// The config model: the read model of configs, groups, assignments and
/// every agent's desired configuration and drift.
///
/// It folds, in log order, the config and group streams and the agent events
/// that matter to configuration (registration and labels, assignments,
/// reports), with each aggregate's own `apply`. Each agent's desired
/// configuration is derived here, never written as an event per agent: a
/// change to a group of a million agents is one event, and this model
/// re-resolves the org's agents as it folds it (agents with the same labels
/// and no assignment or membership of their own share one resolution).
///
/// `config_version` of an agent is the log position of the event that last
/// changed its desired configuration's hash: it grows exactly when that
/// changes, and the same log always gives the same numbers (replay, restart).
///
/// Desired configurations are shared: agents resolving to the same hash hold
/// one copy.
///
/// Thread safety: one writer (the projection runner) and any number of
/// readers, under one reader-writer lock.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors/agent/agent_id.hpp"
#include "actors/config/config_state.hpp"
#include "actors/config/desired_config.hpp"
#include "actors/group/group_state.hpp"
#include "actors/rollout/rollout_state.hpp"
#include "common/clock.hpp"
#include "common/interned.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// An agent's configuration as the operator API shows it.
struct AgentConfigView {
  AgentId agent_id;
  std::string org;
  std::shared_ptr<const DesiredConfig> desired;  ///< Null: nothing assigned.
  std::uint64_t config_version = 0;
  std::optional<Assignment> assignment;  ///< Its own (agent-level) assignment.
  std::vector<std::string> groups;       ///< Groups it is in, highest precedence first.
  std::vector<std::string> rollouts;     ///< Rollouts whose layer holds it, highest precedence first.
  std::optional<ConfigReport> report;
  TimeMs reported_at_ms = 0;
  SharedConfigFiles effective_files;  ///< Null: never reported.
  std::string effective_hash;
  TimeMs effective_at_ms = 0;
  ConfigStatus status = ConfigStatus::none;
};

/// What a heartbeat or an agent's config fetch needs: cheap to copy.
struct DesiredSummary {
  std::shared_ptr<const DesiredConfig> desired;  ///< Null: nothing assigned.
  std::uint64_t config_version = 0;
};

using ConfigStatusCounts = std::array<std::size_t, kConfigStatusCount>;

/// An agent of a rollout's target, as the rollout service measures it.
struct RolloutTargetAgent {
  AgentId agent_id;
  std::uint64_t slice_hash = 0;  ///< rollout_slice_hash(rollout id, agent id).
  ConfigStatus status = ConfigStatus::none;
};

class ConfigModel : public ReadModel {
 public:
  ConfigModel();
  ~ConfigModel();
  ConfigModel(const ConfigModel&) = delete;
  ConfigModel& operator=(const ConfigModel&) = delete;

  // --- Folding (the projection runner) ------------------------------------------

  /// Folds the config, group and agent events of `batch`, in log order,
  /// skipping events at or before `position()` and other streams. A failing
  /// event is reported and skipped. Returns the first failure.
  Status apply(const std::vector<Event>& batch) override;

  /// Told, after a batch is folded, which agents' desired configuration
  /// changed hash in it (what an OpAMP WebSocket pushes at once). Runs on
  /// the folding thread with no lock held; must not block.
  using DesiredChangedHook = std::function<void(const std::vector<AgentId>& agents)>;
  /// Sets (or, with nullptr, clears) the hook; any thread, at any time.
  void set_on_desired_changed(DesiredChangedHook hook);
  /// The last log position folded.
  std::uint64_t position() const;

  // --- Configs ------------------------------------------------------------------

  /// Configs of `org` that exist, by name.
  std::vector<Config> configs(std::string_view org) const;
  /// The config `name` of `org`, even if deleted (`exists` says); nullopt if never created.
  std::optional<Config> config(std::string_view org, std::string_view name) const;
  /// True while a group or agent of `org` is assigned the config or policy `name`.
  bool config_in_use(std::string_view org, std::string_view name) const;
  /// Counts per status of the listed agents whose desired configuration
  /// includes the config or policy `name`.
  ConfigStatusCounts config_status_counts(std::string_view org, std::string_view name) const;

  /// Checks `assignment` against the configs of `org`: each name exists and
  /// is of the right kind (404 CONFIG_NOT_FOUND, field "config" or
  /// "policies"), each pinned version exists (400 VERSION_NOT_FOUND, field "version").
  Status check_assignment(std::string_view org, const Assignment& assignment) const;

  // --- Groups -------------------------------------------------------------------

  /// Groups of `org` that exist, in precedence order (highest first).
  std::vector<Group> groups(std::string_view org) const;
  /// The group `name` of `org`, even if deleted; nullopt if never created.
  std::optional<Group> group(std::string_view org, std::string_view name) const;
  /// True if the agent is in the existing group `name` of its org.
  bool in_group(const AgentId& agent_id, std::string_view group_name) const;

  // --- Rollouts -----------------------------------------------------------------
  //
  // A rollout's change is a layer of the resolution (actors/rollout/rollout_state.hpp):
  // "rollout:<id>" above every group, below the agent's own assignment,
  // newer rollouts above older ones. Its events move it; no per-agent event.

  /// The listed agents of `org` in `target` (a group as it selects them, none
  /// for a group that does not exist; or every pair of a selector), with
  /// their slice hash for `rollout_id` and config status. Walks the agents:
  /// O(agents) under the read lock.
  std::vector<RolloutTargetAgent> rollout_target(std::string_view org, const RolloutTarget& target,
                                                 std::string_view rollout_id) const;

  // --- Agents -------------------------------------------------------------------

  /// The hot path: an agent's desired configuration and config_version.
  DesiredSummary desired_of(const AgentId& agent_id) const;
  /// Everything the operator API shows; nullopt for an agent never registered.
  std::optional<AgentConfigView> agent(const AgentId& agent_id) const;
  ConfigStatus config_status_of(const AgentId& agent_id) const;
  /// True if `hash` was ever the desired hash of an agent of `org`.
  bool was_desired(std::string_view org, std::string_view hash) const;
  /// Counts per status of the listed agents of the orgs `org_scope` covers ("*": all).
  ConfigStatusCounts status_counts(std::string_view org_scope) const;

  // --- Snapshots ----------------------------------------------------------------

  static constexpr const char* kSnapshotScope = "config";
  std::string_view name() const override { return kSnapshotScope; }
  /// Writes what changed since the last call, and the position it reflects.
  Status save_snapshot(SnapshotStore& store) override;
  /// Loads the snapshot into an empty model; returns the position to fold
  /// after (0, leaving the model empty, for no snapshot or one that cannot be
  /// read or is past `head_position`).
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
