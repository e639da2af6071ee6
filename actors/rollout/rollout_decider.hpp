#pragma once
/// A rollout's commands and decisions, and the rollout as the runtime runs it.
///
/// The rollout advances on observations: the rollout service measures the
/// current stage's slice every tick (actors/rollout/rollout_service.hpp) and
/// sends it here; `decide_observe` turns it into the next transition, so
/// every step is an event and a restart resumes exactly where the log says:
///
///   stage k applying --(slice all applied or failed, or bake_time since the
///   stage started)--> baking --(bake_time since the logged bake start)-->
///   stage k+1 applying ... last stage finished --> completed
///
/// The gate is checked all along (applying and baking): past any of its
/// maxima the rollout pauses itself, or rolls back with on_failure
/// "rollback". A resume restarts the current phase's clock.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/rollout/rollout_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

/// `not_found` / ROLLOUT_NOT_FOUND.
Error rollout_not_found();

/// A slice as a stage starts it: its threshold (nullopt: no agent) and size.
struct RolloutSlice {
  std::optional<std::uint64_t> threshold;
  std::uint64_t agents = 0;
};

/// What the service measured: the current stage's slice, the time, and the
/// slice the next stage would take from the target as it is now.
struct RolloutObservation {
  std::uint64_t stage = 0;  ///< The stage measured: an observation of another changes nothing.
  RolloutCounts slice;
  TimeMs now_ms = 0;
  RolloutSlice next;
};

struct CreateRollout {
  RolloutCreated created;  ///< Its rollout_id is the stream's.
  RolloutSlice first;      ///< Stage 0's slice.
};
struct ObserveRollout {
  RolloutObservation observation;
};
struct PauseRollout {
  std::string reason;
};
struct ResumeRollout {};
struct AbortRollout {
  std::string reason;
};
struct RollBackRollout {
  std::string reason;
};
/// Once a group target's assignment took the change (the service's step).
struct CompleteRollout {};

using RolloutCommand = std::variant<CreateRollout, ObserveRollout, PauseRollout, ResumeRollout, AbortRollout,
                                    RollBackRollout, CompleteRollout>;

/// RolloutCreated and RolloutStageStarted for stage 0. Refused: `conflict`
/// / ROLLOUT_EXISTS (ids are random: only a retried creation meets one).
Result<std::vector<RolloutEvent>> decide_create(const Rollout& rollout, const CreateRollout& command);
/// The next transition of a running rollout (see the file comment); nothing
/// when none is due, when it is not running, or when every stage finished
/// (then only CompleteRollout completes it, except for a selector target,
/// which completes with its last stage), or when it measured another stage
/// than the current one (a read model behind the actor). Refused: ROLLOUT_NOT_FOUND.
Result<std::vector<RolloutEvent>> decide_observe(const Rollout& rollout, const ObserveRollout& command);
/// The gate's verdict on `counts`: the first measure past its maximum
/// ("failed", "unhealthy", "offline") with a reason naming it, or nullopt.
struct GateBreach {
  std::string measure;
  std::string reason;
};
std::optional<GateBreach> check_gate(const RolloutGate& gate, const RolloutCounts& counts);
/// RolloutPaused. Refused: ROLLOUT_NOT_FOUND; `conflict` / ROLLOUT_NOT_RUNNING.
Result<std::vector<RolloutEvent>> decide_pause(const Rollout& rollout, const PauseRollout& command);
/// RolloutResumed. Refused: ROLLOUT_NOT_FOUND; `conflict` / ROLLOUT_NOT_PAUSED.
Result<std::vector<RolloutEvent>> decide_resume(const Rollout& rollout);
/// RolloutAborted (the layer stays, frozen). Refused: ROLLOUT_NOT_FOUND;
/// `conflict` / ROLLOUT_NOT_ACTIVE unless running or paused, or once every
/// stage finished (it is completing).
Result<std::vector<RolloutEvent>> decide_abort(const Rollout& rollout, const AbortRollout& command);
/// RolloutRolledBack (the layer goes). Refused: ROLLOUT_NOT_FOUND;
/// `conflict` / ROLLOUT_NOT_ACTIVE without a layer (rolled back already, or
/// completed into its group), or while a group target is completing.
Result<std::vector<RolloutEvent>> decide_rollback(const Rollout& rollout, const RollBackRollout& command);
/// RolloutCompleted once every stage finished; nothing if it is not running.
Result<std::vector<RolloutEvent>> decide_complete(const Rollout& rollout);

struct RolloutAggregate {
  static constexpr std::string_view kKind = kRolloutKind;
  using State = Rollout;
  using Payload = RolloutEvent;
  using Command = RolloutCommand;
  using Context = runtime::DecideContext;
  /// `id` is "<org>/<rollout_id>" (org_scoped_id).
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) {
    return stream_name(kKind, org_scoped_id(state.org, state.rollout_id));
  }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
