#pragma once
/// Rollouts: one change of configuration (an assignment, or settings) given
/// to a target's agents stage by stage, each stage watched through a health
/// gate. Each is a stream "rollout:<org>/<rollout_id>":
///
///   RolloutCreated        {rollout_id, org, name, target: {group} | {selector},
///                          change: {assignment} | {settings}, stages: [{percent | count,
///                          bake_time_ms}], gate, on_failure, principal}
///   RolloutStageStarted   {stage, threshold | null, agents}
///   RolloutStageBaking    {stage, at}  (the bake's start: the slice all applied
///                          or failed, or its bake time ran out while applying)
///   RolloutStageFinished  {stage, counts}
///   RolloutPaused         {reason, measure, counts}  (measure "": by an operator)
///   RolloutResumed        {}
///   RolloutAborted        {reason}
///   RolloutRolledBack     {reason, measure, counts}
///   RolloutCompleted      {}
///
/// No event is written per agent. The change reaches agents as a *layer* of
/// the config model (projections/config_model.hpp): an assignment source
/// "rollout:<id>" above every group and below the agent's own assignment,
/// holding the agents of the target whose slice hash (`rollout_slice_hash`)
/// is at or below the threshold of the latest started stage. A stage that
/// must cover n agents logs the n-th smallest hash of the target's members
/// as its threshold (the last stage, always 100%, logs UINT64_MAX so agents
/// that join the target later get the change too), so a replay or a restart
/// picks exactly the same slice and one event changes every agent of it.
///
/// The layer by state: running, paused and aborted (frozen) keep it at the
/// threshold; rolled_back removes it; completed removes it for a group
/// target (whose assignment took the change first) and keeps it, whole, for
/// a selector target until the rollout is rolled back.

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "actors/config/assignment.hpp"
#include "actors/group/group_state.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kRolloutKind = "rollout";
/// Stages one rollout may have, at most.
inline constexpr std::size_t kMaxRolloutStages = 20;
/// The threshold of a stage covering the whole target, now and later.
inline constexpr std::uint64_t kWholeTarget = std::numeric_limits<std::uint64_t>::max();

/// Where an agent stands in a rollout's slices: FNV-1a (64 bits) over the
/// rollout id's bytes, one zero byte and the agent id's 16 bytes, then
/// splitmix64's finalizer to spread it. Logged thresholds depend on it: it
/// must never change.
std::uint64_t rollout_slice_hash(std::string_view rollout_id, const AgentId& agent_id);

/// Which agents a rollout is for: a group's (as the group selects them), or
/// those whose labels hold every pair of `selector`.
struct RolloutTarget {
  std::optional<std::string> group;
  LabelSelector selector;  ///< With no group: all pairs must match (empty: every agent of the org).
};
bool operator==(const RolloutTarget& left, const RolloutTarget& right);

enum class RolloutChangeKind { assignment, settings };

/// The change: an assignment's config, version and policies (no settings),
/// or only settings. As a layer it is `assignment` as it stands.
struct RolloutChange {
  RolloutChangeKind kind = RolloutChangeKind::assignment;
  Assignment assignment;
};
bool operator==(const RolloutChange& left, const RolloutChange& right);

/// One stage: the cumulative share of the target that has the change once
/// it is applied (exactly one of percent, count), and how long it bakes.
struct RolloutStageSpec {
  std::optional<double> percent;
  std::optional<std::uint64_t> count;
  TimeMs bake_time_ms = 0;
};
bool operator==(const RolloutStageSpec& left, const RolloutStageSpec& right);

/// `base` (a group's assignment) with `change` folded in: the change's
/// config and version, the policies of both (the change's versions winning),
/// settings deep-merged with the change's winning. Where no higher source
/// differs, an agent resolves to the same desired config from it as from
/// `base` under the change's layer: a completion changes no hash.
Assignment fold_change_into(const std::optional<Assignment>& base, const RolloutChange& change);

/// The default stages: 1%, 10%, 50%, 100%, each baking 5 minutes (README
/// "Rollouts" says why).
std::vector<RolloutStageSpec> default_rollout_stages();

/// How many of `target_size` agents `stage` covers: a percent rounds up
/// and covers at least one agent of a target that is not empty; a count
/// at most the target.
std::uint64_t stage_agents(const RolloutStageSpec& stage, std::uint64_t target_size);

/// Past any of these shares (percent of the slice's agents), the rollout stops.
struct RolloutGate {
  double max_failed_percent = 5;      ///< Config status failed.
  double max_unhealthy_percent = 10;  ///< Live, silent beyond the warning threshold.
  double max_offline_percent = 10;    ///< Status OFFLINE.
};
bool operator==(const RolloutGate& left, const RolloutGate& right);

enum class RolloutOnFailure { pause, rollback };
const char* to_string(RolloutOnFailure on_failure);
std::optional<RolloutOnFailure> parse_rollout_on_failure(std::string_view text);

/// The current stage's slice as observed.
struct RolloutCounts {
  std::uint64_t agents = 0;
  std::uint64_t applied = 0;
  std::uint64_t failed = 0;
  std::uint64_t unhealthy = 0;
  std::uint64_t offline = 0;
};
bool operator==(const RolloutCounts& left, const RolloutCounts& right);
nlohmann::json counts_to_json(const RolloutCounts& counts);

struct RolloutCreated {
  static constexpr EventType kType{"RolloutCreated", kRolloutKind, 1};
  std::string rollout_id;
  std::string org;
  std::string name;
  RolloutTarget target;
  RolloutChange change;
  std::vector<RolloutStageSpec> stages;
  RolloutGate gate;
  RolloutOnFailure on_failure = RolloutOnFailure::pause;
  std::string principal;
  nlohmann::json to_json() const;
  static Result<RolloutCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct RolloutStageStarted {
  static constexpr EventType kType{"RolloutStageStarted", kRolloutKind, 1};
  std::uint64_t stage = 0;
  std::optional<std::uint64_t> threshold;  ///< nullopt: the slice is empty.
  std::uint64_t agents = 0;                ///< Agents of the target at or below it when it started.
  nlohmann::json to_json() const;
  static Result<RolloutStageStarted> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct RolloutStageBaking {
  static constexpr EventType kType{"RolloutStageBaking", kRolloutKind, 1};
  std::uint64_t stage = 0;
  TimeMs at_ms = 0;
  nlohmann::json to_json() const;
  static Result<RolloutStageBaking> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct RolloutStageFinished {
  static constexpr EventType kType{"RolloutStageFinished", kRolloutKind, 1};
  std::uint64_t stage = 0;
  RolloutCounts counts;
  nlohmann::json to_json() const;
  static Result<RolloutStageFinished> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct RolloutPaused {
  static constexpr EventType kType{"RolloutPaused", kRolloutKind, 1};
  std::string reason;
  std::string measure;  ///< "failed", "unhealthy", "offline"; empty: an operator paused it.
  RolloutCounts counts;
  nlohmann::json to_json() const;
  static Result<RolloutPaused> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct RolloutResumed {
  static constexpr EventType kType{"RolloutResumed", kRolloutKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<RolloutResumed> from_json(const nlohmann::json&, std::uint32_t) { return RolloutResumed{}; }
};

struct RolloutAborted {
  static constexpr EventType kType{"RolloutAborted", kRolloutKind, 1};
  std::string reason;
  nlohmann::json to_json() const;
  static Result<RolloutAborted> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct RolloutRolledBack {
  static constexpr EventType kType{"RolloutRolledBack", kRolloutKind, 1};
  std::string reason;
  std::string measure;  ///< As RolloutPaused's; empty: an operator rolled it back.
  RolloutCounts counts;
  nlohmann::json to_json() const;
  static Result<RolloutRolledBack> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct RolloutCompleted {
  static constexpr EventType kType{"RolloutCompleted", kRolloutKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<RolloutCompleted> from_json(const nlohmann::json&, std::uint32_t) {
    return RolloutCompleted{};
  }
};

using RolloutEvent =
    std::variant<RolloutCreated, RolloutStageStarted, RolloutStageBaking, RolloutStageFinished, RolloutPaused,
                 RolloutResumed, RolloutAborted, RolloutRolledBack, RolloutCompleted>;

enum class RolloutStatus { running, paused, completed, aborted, rolled_back };
const char* to_string(RolloutStatus status);

/// One stage as it went.
struct RolloutStageProgress {
  bool started = false;
  bool baking = false;
  bool finished = false;
  std::optional<std::uint64_t> threshold;
  std::uint64_t agents = 0;  ///< When it started.
  TimeMs started_at_ms = 0;
  TimeMs baking_at_ms = 0;
  TimeMs finished_at_ms = 0;
  RolloutCounts counts;  ///< When it finished.
};
bool operator==(const RolloutStageProgress& left, const RolloutStageProgress& right);

/// One event of the rollout, as the API lists them.
struct RolloutHistoryEntry {
  std::string type;
  TimeMs at_ms = 0;
  std::uint64_t position = 0;
  nlohmann::json data;
};
bool operator==(const RolloutHistoryEntry& left, const RolloutHistoryEntry& right);

struct Rollout {
  std::string rollout_id;
  std::string org;
  std::string name;
  RolloutTarget target;
  RolloutChange change;
  std::vector<RolloutStageSpec> stages;
  RolloutGate gate;
  RolloutOnFailure on_failure = RolloutOnFailure::pause;
  std::string principal;
  RolloutStatus status = RolloutStatus::running;
  std::string reason;                          ///< Of the latest pause, abort or rollback.
  std::string measure;                         ///< The gate's measure that stopped it; empty otherwise.
  std::size_t current_stage = 0;               ///< The latest started stage.
  std::vector<RolloutStageProgress> progress;  ///< One per stage.
  TimeMs resumed_at_ms = 0;                    ///< The latest resume: the current phase counts from it.
  TimeMs created_at_ms = 0;
  TimeMs updated_at_ms = 0;
  TimeMs ended_at_ms = 0;  ///< Completed, aborted or rolled back.
  std::uint64_t created_position = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;
  std::vector<RolloutHistoryEntry> history;

  bool exists() const { return version > 0; }
  /// Running or paused: it may still advance, and holds its target against others.
  bool active() const { return status == RolloutStatus::running || status == RolloutStatus::paused; }
  /// Every stage finished; a running rollout then only completes.
  bool stages_done() const { return !progress.empty() && progress.back().finished; }
  /// True while the config model holds its layer (see the file comment).
  bool has_layer() const;
  /// The layer's threshold: the latest started stage's (nullopt: no agent).
  std::optional<std::uint64_t> layer_threshold() const;
};
bool operator==(const Rollout& left, const Rollout& right);

/// Encodings of the parts, as events, snapshots and the API show them.
nlohmann::json rollout_target_to_json(const RolloutTarget& target);
nlohmann::json rollout_change_to_json(const RolloutChange& change);
nlohmann::json rollout_stage_to_json(const RolloutStageSpec& stage);
nlohmann::json rollout_gate_to_json(const RolloutGate& gate);

/// A rollout's state as JSON text (snapshots), and back. Damage gives `corruption`.
nlohmann::json rollout_to_snapshot_json(const Rollout& rollout);
Result<Rollout> rollout_from_snapshot_json(const nlohmann::json& data);

/// Folds one event of a "rollout:" stream. Errors: `corruption`, state unchanged.
Status apply(Rollout& rollout, const Event& event);
Status apply(Rollout& rollout, const RolloutEvent& event, const EventHeader& header);

}  // namespace muster
