#pragma once
/// Rollouts: what the API asks of them, and the process that runs them.
/// Each rollout is an aggregate on the runtime (rollout_decider.hpp); reads
/// come from the rollouts' read model (projections/rollouts.hpp) and the
/// config model, which holds each rollout's layer.
///
/// Running: every `tick`, for each running rollout the service measures
/// the current stage's slice (RolloutObservation: its agents' config status
/// from the config model, status and silence from the agent registry, the
/// time) and sends it to the rollout's actor, whose decision is the next
/// transition, as events. A rollout therefore resumes after a restart where
/// its log stands, its bake counted from its logged start. A rollout of a
/// group whose stages all finished first sets the group's assignment to the
/// group's with the change folded in (`fold_change_into`), then completes,
/// which removes its layer: agents keep their desired hash.
///
/// Creation checks what spans aggregates: the group exists, the configs and
/// versions named exist (ConfigModel::check_assignment), and no agent of the
/// target is in the target of another running or paused rollout.
///
/// Lifecycle: start() does nothing; `resume`, once the read models hold the
/// log as it was at start-up, starts the ticks. stop() stops them, waits for
/// the observations in flight, then stops the rollouts' actors. Stop it
/// before the services it calls (groups).
///
/// Thread safety: every method may be called from any thread. `done` runs
/// on the rollout's actor, the projection runner's thread or the caller's
/// (refusals), never blocking.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/agent/agent_health.hpp"
#include "actors/group/group_service.hpp"
#include "actors/rollout/rollout_decider.hpp"
#include "actors/rollout/rollout_state.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"
#include "projections/rollouts.hpp"

namespace muster {

struct RolloutServiceOptions {
  /// How often each running rollout is measured and may advance. Default: 1 s.
  TimeMs tick_ms = 1'000;
  /// Silence beyond `warning_within_ms` makes a live agent unhealthy.
  HealthThresholds health;
};

/// A rollout as the API asks for it; the route has checked its shape.
struct RolloutRequest {
  std::string name;
  RolloutTarget target;
  RolloutChange change;
  std::vector<RolloutStageSpec> stages;  ///< Rising, the last one 100%.
  RolloutGate gate;
  RolloutOnFailure on_failure = RolloutOnFailure::pause;
};

/// A rollout and, while it is running or paused, its current stage's slice now.
struct RolloutView {
  Rollout rollout;
  std::optional<RolloutCounts> live;
};

class RolloutService : public Service {
 public:
  /// References must outlive the service.
  RolloutService(runtime::Runtime& runtime, EventStore& store, GroupService& groups,
                 const AgentRegistry& registry, const ConfigModel& configs, const Rollouts& rollouts,
                 WhenFolded when_folded, RolloutServiceOptions options = {});
  ~RolloutService() override;

  std::string_view name() const override { return "rollouts"; }
  Status start() override { return Status::success(); }
  void stop() override;

  /// Starts the ticks that run every running rollout. Call once the read
  /// models hold the log as it was at start-up.
  void resume();

  using Done = std::function<void(Result<Rollout>)>;
  /// Makes a rollout in `org` and starts its first stage; answers it once
  /// the read models hold it. Refused before anything is recorded:
  /// `not_found` / GROUP_NOT_FOUND (field "target.group"); the refusals of
  /// `ConfigModel::check_assignment` with the field under "change.assignment."
  /// (CONFIG_NOT_FOUND, VERSION_NOT_FOUND); `conflict` / ROLLOUT_CONFLICT
  /// (field "target", naming the other rollout) when an agent of the target
  /// is in the target of another running or paused rollout.
  void create(const std::string& org, const RolloutRequest& request, const RequestContext& context,
              Done done);
  /// The operator's transitions (rollout_decider.hpp says when each is
  /// refused); `rollout_id` must be visible to `caller`, else ROLLOUT_NOT_FOUND.
  void pause(const Principal& caller, const std::string& rollout_id, const RequestContext& context,
             Done done);
  void resume_rollout(const Principal& caller, const std::string& rollout_id, const RequestContext& context,
                      Done done);
  void abort(const Principal& caller, const std::string& rollout_id, const RequestContext& context,
             Done done);
  void rollback(const Principal& caller, const std::string& rollout_id, const RequestContext& context,
                Done done);

  /// The rollout `rollout_id` with its live numbers if `caller` may see it;
  /// `not_found` / ROLLOUT_NOT_FOUND otherwise.
  Result<RolloutView> find(const Principal& caller, const std::string& rollout_id) const;
  /// The rollouts `caller` may see, newest first (see Rollouts::list).
  Result<RolloutPage> list(const Principal& caller, std::size_t limit,
                           const std::optional<std::string>& after) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
